"""The war room end to end, in headless Chromium against the embedded server (what `make run`
serves, with its in-process worker): a drill replay of a real crisis stream surges on a
watch, every open dashboard shows the spike on its chart and as an alert without a reload,
a viewer's phone shows it read-only and catches up after a dropped connection, and the
manager's one click opens the incident from the suggested playbook.

The streams are built at test time from the shared CrisisLexT6 data set (never committed),
from the 2013 Oklahoma tornado tweets that say "tornado" and that none of the demo
organisation's watches match, so only this test's watch surges:

- a quiet stretch: 30 of them, one every five minutes over the last two and a half hours,
  imported as history (the detector needs an hour of it before it judges a window);
- the surge: the 120 tweets closest together in time, replayed as a drill at 500× real
  time, so about ten seconds bring 120 mentions where the quiet stretch had one in five
  minutes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

import pytest

from tests.test_inbox_e2e import DEMO_PASSWORD, _log_in, chromium  # noqa: F401 (chromium is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TORNADO = Path("/work/shared/data/crisislex-t6/2013_Oklahoma_Tornado/2013_Oklahoma_Tornado-ontopic_offtopic.csv")
WATCH_NAME = "Tornado (drill)"
WATCH_QUERY = "tornado"
PLAYBOOK_NAME = "Severe weather near our sites"
QUIET_ROWS = 30
SURGE_ROWS = 120
# The 120 closest tweets span about 83 minutes; at this speed they arrive in about ten seconds.
DRILL_SPEED = "500"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


def tornado_rows() -> list[list[str]]:
    """The tornado tweets this test's watch matches and no demo watch does, in time order."""
    from crisiscenter.management.commands.demo_setup import DEMO_WATCHES
    from monitoring import queries

    if not TORNADO.exists():
        pytest.fail(f"{TORNADO} is missing: the drill replays the shared CrisisLexT6 data")
    ours = queries.parse(WATCH_QUERY)
    demo = [queries.parse(query) for _name, query in DEMO_WATCHES]
    with TORNADO.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        next(reader)
        rows = [row for row in reader if len(row) >= 2 and ours.matches(row[1]) and not any(watch.matches(row[1]) for watch in demo)]
    return sorted(rows, key=lambda row: int(row[0].strip("'\"")))


def surge_file(rows: list[list[str]]) -> bytes:
    def tweet_id(row) -> int:
        return int(row[0].strip("'\""))

    start = min(range(len(rows) - SURGE_ROWS + 1), key=lambda i: tweet_id(rows[i + SURGE_ROWS - 1]) - tweet_id(rows[i]))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tweet id", " tweet", " label"])
    writer.writerows(rows[start : start + SURGE_ROWS])
    return out.getvalue().encode()


def quiet_history_file(rows: list[list[str]]) -> bytes:
    """Real tweets, moved to one every five minutes ending a few minutes ago (an export file:
    JSON lines of drafts, which keep the times they are given)."""
    now = datetime.now(dt_timezone.utc).replace(second=0, microsecond=0)
    lines = []
    for number, row in enumerate(rows[:QUIET_ROWS]):
        posted_at = now - timedelta(minutes=5 * (QUIET_ROWS - number) + 2)
        lines.append(json.dumps({"external_id": f"quiet-{row[0].strip(chr(39))}", "text": row[1], "posted_at": posted_at.isoformat(), "language": "en"}))
    return ("\n".join(lines) + "\n").encode()


class Api:
    """JSON calls as a logged-in browser makes them (session cookie and CSRF header)."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url
        self.api = f"{base_url}/api/v1"

    def _headers(self) -> dict:
        token = next(cookie["value"] for cookie in self.page.context.cookies() if cookie["name"] == "csrftoken")
        return {"X-CSRFToken": token, "Referer": self.base_url + "/"}

    def get(self, path: str):
        response = self.page.request.get(self.api + path)
        assert response.ok, f"GET {path}: {response.status} {response.text()[:500]}"
        return response.json()

    def post(self, path: str, *, json_body=None, multipart=None):
        response = self.page.request.post(self.api + path, headers=self._headers(), data=json_body, multipart=multipart)
        assert response.ok, f"POST {path}: {response.status} {response.text()[:500]}"
        return response.json()


@pytest.fixture(scope="module")
def demo_viewer(embedded_server) -> str:
    """The demo has no viewer; adds "viewer" (Vic Viewer) to the demo organisation."""
    import subprocess

    from tests import processes

    script = (
        "from crisiscenter.models import Membership, Organization, Role, User\n"
        "organization = Organization.objects.get(slug='demo')\n"
        "user, _ = User.objects.get_or_create(username='viewer', defaults={'display_name': 'Vic Viewer', 'email': 'viewer@demo.example'})\n"
        f"user.set_password('{DEMO_PASSWORD}')\n"
        "user.save()\n"
        "Membership.unscoped.get_or_create(organization=organization, user=user, defaults={'role': Role.VIEWER})\n"
    )
    env = processes.clean_env(CRISISCENTER_DATA_DIR=str(embedded_server.data_dir))
    subprocess.run([processes.python(), "manage.py", "shell", "-c", script], cwd=processes.ROOT, env=env, check=True, capture_output=True)
    return "viewer"


def _set_up_the_watch(admin, base_url: str, rows) -> int:
    """The admin adds the watch and a playbook that suggests itself for it, then imports the
    quiet stretch and waits for it to be stored."""
    from playwright.sync_api import expect

    api = Api(admin, base_url)
    watch = api.post("/organizations/demo/watches/", json_body={"name": WATCH_NAME, "query": WATCH_QUERY})
    starter = next(item["document"] for item in api.get("/playbook-starters/") if item["key"] == "external-disaster")
    document = {**starter, "name": PLAYBOOK_NAME, "default_severity": 2,
                "triggers": {"watch_queries": [WATCH_QUERY], "min_mentions_per_minute": 5, "ratio_to_baseline": 3, "open_automatically": False}}
    api.post("/organizations/demo/playbooks/", json_body={"document": document})
    job = api.post("/organizations/demo/imports/", multipart={
        "file": {"name": "tornado-quiet.jsonl", "mimeType": "application/x-ndjson", "buffer": quiet_history_file(rows)}, "kind": "file",
    })
    admin.goto(f"{base_url}/o/demo/imports/{job['id']}/")
    expect(admin.locator('[data-job-field="status"]').first).to_have_text("Done", timeout=30_000)
    assert api.get(f"/organizations/demo/imports/{job['id']}/")["job"]["stored"] == QUIET_ROWS
    return watch["id"]


def _open_war_room(page, base_url: str):
    from playwright.sync_api import expect

    page.goto(f"{base_url}/o/demo/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#war-room")).to_have_attribute("data-state", "ready")
    page.evaluate("window.__sameLoad = true")  # gone if the page were reloaded


def test_a_surge_shows_on_every_dashboard_and_one_click_opens_the_incident(chromium, embedded_server, demo_viewer):  # noqa: F811
    from playwright.sync_api import expect

    base_url = embedded_server.base_url
    rows = tornado_rows()
    assert len(rows) > QUIET_ROWS + SURGE_ROWS

    manager = chromium.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    phone_context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    viewer = phone_context.new_page()
    admin = chromium.new_context().new_page()
    # The viewer's socket goes through a switch, so the test can drop it like a train tunnel.
    tunnel = {"closed": False, "routes": []}

    def route_socket(socket):
        if tunnel["closed"]:
            socket.close(code=1011, reason="no signal")
            return
        socket.connect_to_server()
        tunnel["routes"].append(socket)

    viewer.route_web_socket(re.compile(r"/ws/orgs/demo/$"), route_socket)
    _log_in(manager, base_url, "manager")
    _log_in(viewer, base_url, demo_viewer)
    _log_in(admin, base_url, "admin")
    watch_id = _set_up_the_watch(admin, base_url, rows)

    _open_war_room(manager, base_url)
    _open_war_room(viewer, base_url)
    chart = f'#watch-charts [data-watch-id="{watch_id}"]'
    expect(manager.locator(chart)).to_contain_text(WATCH_NAME)
    expect(manager.locator(f"{chart} [data-spike-id]")).to_have_count(0)
    expect(manager.locator("#alerts-empty")).to_be_visible()
    # Who is here: both dashboards, on both screens.
    expect(manager.locator("#presence-list")).to_contain_text("Vic Viewer")
    expect(viewer.locator("#presence-list")).to_contain_text("Max Manager")

    # The admin replays the surge as a drill, from the imports page.
    admin.goto(f"{base_url}/o/demo/imports/")
    admin.locator("#drill-form").get_by_label("Replay file").set_input_files(
        {"name": "tornado-surge.csv", "mimeType": "text/csv", "buffer": surge_file(rows)}
    )
    admin.get_by_label("Speed (× real time)").fill(DRILL_SPEED)
    admin.get_by_role("button", name="Start drill").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Drill replay: tornado-surge.csv")

    # The spike arrives on both dashboards without a reload: a marker on the watch's chart
    # (and on the total), and an alert naming the watch and the suggested playbook.
    marker = manager.locator(f"{chart} .wr-markers [data-spike-id]")
    expect(marker).to_have_count(1, timeout=60_000)
    spike_id = marker.get_attribute("data-spike-id")
    expect(manager.locator(f'#chart-total [data-spike-id="{spike_id}"]')).to_be_visible()
    alert = manager.locator(f'#alert-list [data-alert-id="{spike_id}"]')
    expect(alert).to_contain_text(f"Spike on {WATCH_NAME}")
    expect(alert).to_contain_text(f"Suggested playbook: {PLAYBOOK_NAME}")
    expect(manager.locator("#alerts-count")).to_have_text("1")
    expect(manager.locator(chart)).to_have_class(re.compile(r"\bspiking\b"))
    expect(manager.locator("#wr-announcer")).to_contain_text(f"Spike alert on {WATCH_NAME}")

    viewers_alert = viewer.locator(f'#alert-list [data-alert-id="{spike_id}"]')
    expect(viewers_alert).to_contain_text(f"Spike on {WATCH_NAME}", timeout=15_000)
    expect(viewer.locator(f'#watch-charts [data-watch-id="{watch_id}"] [data-spike-id="{spike_id}"]')).to_be_visible()
    expect(viewers_alert.get_by_role("button")).to_have_count(0)  # read-only for a viewer
    expect(viewer.locator("#wr-alerts")).to_contain_text("Read-only")
    # The phone: alerts first, nothing wider than the screen.
    assert viewer.evaluate("document.querySelector('#wr-alerts').getBoundingClientRect().top < document.querySelector('.wr-volume').getBoundingClientRect().top")
    assert viewer.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the war room scrolls sideways on a phone"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect(admin.locator('[data-job-field="status"]').first).to_have_text("Done", timeout=30_000)
    manager.wait_for_timeout(500)  # let the last volume event draw
    manager.screenshot(path=str(SCREENSHOTS / "war-room-wall-1920x1080.png"))
    viewer.screenshot(path=str(SCREENSHOTS / "war-room-phone-390x844.png"))
    viewer.screenshot(path=str(SCREENSHOTS / "war-room-phone-390x844-full.png"), full_page=True)
    assert manager.evaluate("window.__sameLoad === true") and viewer.evaluate("window.__sameLoad === true"), "a dashboard was reloaded"

    # The viewer's phone loses its connection; meanwhile the manager decides.
    tunnel["closed"] = True
    for socket in tunnel["routes"]:
        socket.close(code=1011, reason="no signal")
    expect(viewer.locator("#live-status")).not_to_have_attribute("data-state", "live")

    alert.get_by_role("button", name="Open incident").click()
    manager.wait_for_url(re.compile(rf"{re.escape(base_url)}/o/demo/incidents/\d+/$"))
    incident_id = int(manager.url.rstrip("/").rsplit("/", 1)[1])
    expect(manager.get_by_role("heading", level=1)).to_contain_text(f"Spike on {WATCH_NAME}")
    expect(manager.locator("main")).to_contain_text(PLAYBOOK_NAME)
    expect(manager.locator(".timeline")).to_contain_text("incident opened from it")

    # Back in coverage, the phone resyncs: the alert is decided, the incident is there.
    tunnel["closed"] = False
    expect(viewer.locator("#live-status")).to_have_attribute("data-state", "live", timeout=30_000)
    expect(viewer.locator(f'#alert-list [data-alert-id="{spike_id}"]')).to_have_count(0)
    expect(viewer.locator("#alerts-empty")).to_be_visible()
    expect(viewer.locator(f'#incident-list [data-incident-id="{incident_id}"]')).to_contain_text(f"Spike on {WATCH_NAME}")
    expect(viewer.locator(f'#watch-charts [data-spike-id="{spike_id}"]')).to_contain_text("incident")
    expect(viewer.locator("#event-list")).to_contain_text("Reconnected")
    assert viewer.evaluate("window.__sameLoad === true"), "the phone reloaded instead of resyncing"


DECISION_WATCHES = ("Floods", "Storm", "Our brand")


@pytest.fixture
def three_fresh_alerts(embedded_server) -> dict[str, int]:
    """Three spikes that ended a few minutes ago without anyone deciding on them (alerts stay up
    for an hour after a spike ends), on demo watches nothing else here surges: spike id by
    watch name. Stored directly: the detector's part is the test above; this one is about
    the decisions."""
    import subprocess

    from tests import processes

    script = (
        "import json\n"
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from monitoring.models import Spike, SpikeStatus, Watch\n"
        "now = timezone.now().replace(second=0, microsecond=0)\n"
        "ids = {}\n"
        f"for number, name in enumerate({DECISION_WATCHES!r}):\n"
        "    watch = Watch.unscoped.get(organization__slug='demo', name=name)\n"
        "    started = now - timedelta(minutes=40 + 10 * number)\n"
        "    spike = Spike.unscoped.create(organization_id=watch.organization_id, watch=watch, status=SpikeStatus.CLOSED,\n"
        "        started_at=started, detected_at=started + timedelta(minutes=6), peak_at=started + timedelta(minutes=12),\n"
        "        ended_at=now - timedelta(minutes=3 + number), window_minutes=30, peak_count=90 + number, window_count=20,\n"
        "        baseline=0.4, expected=12.0, alerted_at=started + timedelta(minutes=6),\n"
        "        explanation={'terms': [{'term': name.lower(), 'posts': 40, 'share': 0.5, 'lift': None}], 'first_posts': [], 'amplifiers': [], 'sentiment': {}, 'sample': 80})\n"
        "    ids[name] = spike.pk\n"
        "print(json.dumps(ids))\n"
    )
    env = processes.clean_env(CRISISCENTER_DATA_DIR=str(embedded_server.data_dir))
    done = subprocess.run([processes.python(), "manage.py", "shell", "-c", script], cwd=processes.ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_responder_attaches_snoozes_and_dismisses_alerts_and_the_room_follows_live(chromium, embedded_server, three_fresh_alerts):  # noqa: F811
    from playwright.sync_api import expect

    base_url = embedded_server.base_url
    responder = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    manager = chromium.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    _log_in(responder, base_url, "responder")
    _log_in(manager, base_url, "manager")
    running = Api(manager, base_url).post("/organizations/demo/incidents/", json_body={"title": "Warehouse flooding in Calgary", "severity": 2})
    _open_war_room(responder, base_url)
    _open_war_room(manager, base_url)

    def alert(page, watch: str):
        return page.locator(f'#alert-list [data-alert-id="{three_fresh_alerts[watch]}"]')

    for watch in DECISION_WATCHES:
        expect(alert(manager, watch)).to_contain_text(f"Spike on {watch}")
        expect(alert(responder, watch)).to_contain_text("Ended")

    # Attach the Floods spike to the incident already running.
    floods = alert(responder, "Floods")
    floods.get_by_role("button", name="Attach to incident…").click()
    floods.get_by_label("Incident").select_option(str(running["id"]))
    floods.get_by_role("button", name="Attach", exact=True).click()
    expect(floods).to_have_count(0)
    expect(alert(manager, "Floods")).to_have_count(0)
    expect(manager.locator(f'#watch-charts [data-spike-id="{three_fresh_alerts["Floods"]}"]')).to_contain_text("incident")

    # Snooze the Storm alert for an hour.
    storm = alert(responder, "Storm")
    storm.get_by_role("button", name="Snooze").click()
    storm.get_by_role("button", name="Snooze for 1 hour").click()
    expect(storm).to_have_count(0)
    expect(alert(manager, "Storm")).to_have_count(0)
    expect(manager.locator(f'#watch-charts [data-spike-id="{three_fresh_alerts["Storm"]}"]')).to_contain_text("snoozed")
    expect(responder.locator("#wr-announcer")).to_contain_text("snoozed for 1 hour")

    # And the last one is not a crisis.
    alert(responder, "Our brand").get_by_role("button", name="Not a crisis").click()
    expect(alert(manager, "Our brand")).to_have_count(0)
    expect(manager.locator(f'#watch-charts [data-spike-id="{three_fresh_alerts["Our brand"]}"]')).to_contain_text("not a crisis")
    expect(manager.locator("#alerts-count")).to_have_text("0")
    expect(manager.locator("#alerts-empty")).to_be_visible()
    expect(manager.locator("#event-list")).to_contain_text("Spike on Our brand marked not a crisis")
    # The incident it joined is on the board with its clocks ticking.
    board = manager.locator(f'#incident-list [data-incident-id="{running["id"]}"]')
    expect(board).to_contain_text("Warehouse flooding in Calgary")
    expect(board.locator("[data-since]")).to_have_text(re.compile(r"^\d+"))
    assert manager.evaluate("window.__sameLoad === true") and responder.evaluate("window.__sameLoad === true")
