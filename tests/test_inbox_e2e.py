"""The shared inbox end to end, in headless Chromium against the embedded server (what
`make run` serves, with its in-process worker): an admin replays a real crisis stream as a
drill, the responders' open inboxes fill without a reload, and a claim is exclusive live.

The drill file is built at test time from the shared CrisisLexT6 data set (never
committed): the 40 tweets closest together in time among the file's first 400 rows.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEMO_PASSWORD = "crisis-demo-2026"
CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps dialling Google on this offline machine.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BOSTON = Path("/work/shared/data/crisislex-t6/2013_Boston_Bombings/2013_Boston_Bombings-ontopic_offtopic.csv")
DRILL_ROWS = 40
# The chosen tweets span about four hours; at this speed they replay in a couple of seconds.
DRILL_SPEED = "5000"


@pytest.fixture(scope="module")
def chromium():
    import os

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install the Debian packages chromium and chromium-driver (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def second_responder(embedded_server) -> str:
    """The demo has one responder; claims need two. Adds "responder2" (Sam Second) to the demo
    organisation of the running embedded server."""
    from tests import processes

    script = (
        "from crisiscenter.models import Membership, Organization, Role, User\n"
        "organization = Organization.objects.get(slug='demo')\n"
        "user, _ = User.objects.get_or_create(username='responder2', defaults={'display_name': 'Sam Second', 'email': 'responder2@demo.example'})\n"
        f"user.set_password('{DEMO_PASSWORD}')\n"
        "user.save()\n"
        "Membership.unscoped.get_or_create(organization=organization, user=user, defaults={'role': Role.RESPONDER})\n"
    )
    env = processes.clean_env(CRISISCENTER_DATA_DIR=str(embedded_server.data_dir))
    subprocess.run([processes.python(), "manage.py", "shell", "-c", script], cwd=processes.ROOT, env=env, check=True, capture_output=True)
    return "responder2"


def boston_drill_file() -> bytes:
    if not BOSTON.exists():
        pytest.fail(f"{BOSTON} is missing: the drill replays the shared CrisisLexT6 data")
    with BOSTON.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        rows = [row for _, row in zip(range(400), reader)]

    def tweet_id(row) -> int:
        return int(row[0].strip().strip("'\""))

    rows.sort(key=tweet_id)
    start = min(range(len(rows) - DRILL_ROWS + 1), key=lambda i: tweet_id(rows[i + DRILL_ROWS - 1]) - tweet_id(rows[i]))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows[start : start + DRILL_ROWS])
    return out.getvalue().encode()


def _log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/o/demo/")


def _open_inbox(page, base_url: str):
    from playwright.sync_api import expect

    page.get_by_role("link", name="Inbox").click()
    page.wait_for_url(f"{base_url}/o/demo/inbox/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    # Marks this page load: if the page were reloaded, the mark would be gone.
    page.evaluate("window.__sameLoad = true")


def test_a_drill_fills_the_open_inboxes_live_and_a_claim_is_exclusive(chromium, embedded_server, second_responder):
    from playwright.sync_api import expect

    base_url = embedded_server.base_url
    rita = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    sam = chromium.new_context().new_page()
    admin = chromium.new_context().new_page()
    _log_in(rita, base_url, "responder")
    _log_in(sam, base_url, second_responder)
    _log_in(admin, base_url, "admin")
    _open_inbox(rita, base_url)
    _open_inbox(sam, base_url)
    rows_before = rita.locator("#inbox-list .mention").count()

    # The admin starts the drill from the imports page and watches it finish there.
    admin.goto(f"{base_url}/o/demo/imports/")
    admin.locator("#drill-form").get_by_label("Replay file").set_input_files(
        {"name": "boston-drill.csv", "mimeType": "text/csv", "buffer": boston_drill_file()}
    )
    admin.get_by_label("Speed (× real time)").fill(DRILL_SPEED)
    admin.get_by_role("button", name="Start drill").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Drill replay: boston-drill.csv")
    expect(admin.locator('[data-job-field="status"]').first).to_have_text("Done", timeout=30_000)
    expect(admin.locator('[data-job-field="position"]').first).to_have_text(str(DRILL_ROWS))

    # Both inboxes filled without a reload.
    new_rows = rita.locator("#inbox-list .mention")
    expect(new_rows).to_have_count(rows_before + DRILL_ROWS, timeout=15_000)
    expect(sam.locator("#inbox-list .mention")).to_have_count(rows_before + DRILL_ROWS, timeout=15_000)
    expect(rita.locator("#new-count")).to_be_visible()
    assert rita.evaluate("window.__sameLoad === true"), "the responder's inbox was reloaded"
    assert rita.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the inbox scrolls sideways on a phone"

    # Rita claims the newest mention with its button, then tags it from the keyboard.
    mention_id = rita.locator("#inbox-list .mention").first.get_attribute("data-mention-id")
    row = rita.locator(f'#inbox-list .mention[data-mention-id="{mention_id}"]')
    row.get_by_role("button", name="Claim").click()
    expect(rita.locator("#triage-message")).to_contain_text("Claimed")
    expect(row.locator('[data-field="assignee"]')).to_have_text("Rita Responder")
    rita.keyboard.press("j")
    rita.keyboard.press("k")
    expect(row).to_have_attribute("aria-current", "true")
    rita.keyboard.press("t")
    expect(rita.get_by_label("Tag for this mention")).to_be_focused()
    rita.keyboard.type("bomb-threat")
    rita.keyboard.press("Enter")
    expect(row.locator('[data-field="tags"] .tag')).to_have_text(["bomb-threat"])

    # Sam sees both live on the same row, and the server refuses his claim.
    sams_row = sam.locator(f'#inbox-list .mention[data-mention-id="{mention_id}"]')
    expect(sams_row.locator('[data-field="assignee"]')).to_have_text("Rita Responder")
    expect(sams_row.locator('[data-field="tags"] .tag')).to_have_text(["bomb-threat"])
    expect(sams_row.get_by_role("button", name="Claim")).to_be_hidden()
    sams_row.locator(".mention-text").click()
    sam.keyboard.press("c")
    expect(sam.locator("#triage-message")).to_contain_text("Rita Responder claimed this mention first.")
    assert sam.evaluate("window.__sameLoad === true")
