"""The war-room page as Django serves it: what each role is given to act with, who may not
see it at all, and that everything it loads comes from the app itself (no CDN).

The live behaviour (snapshot, events, alerts, reconnect) runs in a browser:
tests/test_war_room_e2e.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import get_template

pytestmark = pytest.mark.django_db

WAR_ROOM = "/o/acme/"
TEMPLATE = Path(settings.BASE_DIR) / "templates" / "crisiscenter" / "war_room.html"


def script_tag(html: str) -> str:
    return re.search(r'<script[^>]*id="war-room-script"[^>]*>', html).group(0)


def test_a_viewer_sees_the_war_room_read_only(dave, login_client):
    response = login_client(dave).get(WAR_ROOM)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-can-act="false"' in script_tag(html)
    assert 'id="war-room" data-can-act="false"' in html
    assert "Read-only: responders and up decide on alerts." in html
    # Leave the decisions out entirely, rather than showing buttons that would be refused.
    assert "Open an incident" not in html


@pytest.mark.parametrize("persona", ["bob", "carol"])
def test_responders_and_managers_may_act_on_alerts(persona, request, login_client):
    response = login_client(request.getfixturevalue(persona)).get(WAR_ROOM)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-can-act="true"' in script_tag(html)
    assert '<p class="muted wr-note" id="alerts-read-only" hidden>' in html
    assert 'href="/o/acme/incidents/new/"' in html


def test_the_page_hands_the_script_its_snapshot_api_and_a_csrf_token(bob, login_client):
    tag = script_tag(login_client(bob).get(WAR_ROOM).content.decode())

    assert 'data-snapshot-url="/api/v1/organizations/acme/war-room/"' in tag
    assert 'data-api-base="/api/v1/organizations/acme"' in tag
    assert re.search(r'data-csrf-token="[^"]{20,}"', tag)
    assert 'data-inbox-url="/o/acme/inbox/"' in tag


def test_the_inbox_counters_link_to_every_mention_status(dave, login_client):
    from monitoring.models import MentionStatus

    html = login_client(dave).get(WAR_ROOM).content.decode()

    for status in MentionStatus:
        assert f'href="/o/acme/inbox/?status={status.value}"' in html
        assert status.label in html


def test_an_outsider_gets_404_and_an_anonymous_visitor_the_login_page(charlie, login_client, org_a):
    assert login_client(charlie).get(WAR_ROOM).status_code == 404
    anonymous = login_client(None).get(WAR_ROOM)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


def test_the_chart_library_is_vendored_and_served_from_static(dave, login_client):
    html = login_client(dave).get(WAR_ROOM).content.decode()

    for asset in ("vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css", "js/war_room.js", "js/realtime.js"):
        assert f"/static/{asset}" in html
        assert finders.find(asset), f"{asset} is not in the static files"
    assert "MIT" in Path(finders.find("vendor/uplot/LICENSE")).read_text()
    assert "uPlot" in Path(finders.find("vendor/uplot/uPlot.iife.min.js")).read_text()[:200]


def test_the_page_loads_nothing_from_another_host(dave, login_client):
    html = login_client(dave).get(WAR_ROOM).content.decode()

    # Every script and stylesheet is local; the war room must work on a closed network.
    for reference in re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]+)"', html):
        assert reference.startswith("/"), f"{reference} is not served by the app"
    assert not re.search(r"https?://", TEMPLATE.read_text()), "the war-room template names an external URL"


def test_the_template_compiles_and_the_script_writes_text_never_html():
    get_template("crisiscenter/war_room.html")
    script = Path(finders.find("js/war_room.js")).read_text()

    # Mention texts and names are untrusted: the dashboard builds its DOM with textContent.
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", script)
    # Updates come from the socket; a timer only redraws the clocks.
    assert "setInterval(tick, 1000)" in script
    assert script.count("setInterval") == 1
