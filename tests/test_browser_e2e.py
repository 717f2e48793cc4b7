"""End to end in headless Chromium against the embedded server (what `make run` serves)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEMO_PASSWORD = "crisis-demo-2026"
CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps dialling Google on this offline machine.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


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


def _log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/o/demo/")


def test_a_role_change_by_the_admin_appears_live_in_the_managers_war_room(chromium, embedded_server):
    from playwright.sync_api import expect

    base_url = embedded_server.base_url
    admin = chromium.new_context().new_page()
    manager = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    _log_in(admin, base_url, "admin")
    _log_in(manager, base_url, "manager")
    expect(manager.locator("#live-status")).to_have_attribute("data-state", "live")

    admin.get_by_role("link", name="Team").click()
    admin.get_by_label("Role of Rita Responder").select_option("viewer")
    admin.get_by_role("row", name="Rita Responder").get_by_role("button", name="Change").click()
    expect(admin.get_by_role("status")).to_contain_text("Rita Responder is now viewer")

    # The manager's page was never reloaded: the event came over the WebSocket.
    expect(manager.locator("#event-list li").first).to_contain_text("Rita Responder is now viewer")
    assert manager.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the war room scrolls sideways on a phone"

    admin.get_by_label("Role of Rita Responder").select_option("responder")
    admin.get_by_role("row", name="Rita Responder").get_by_role("button", name="Change").click()
    expect(manager.locator("#event-list li").first).to_contain_text("Rita Responder is now responder")


def test_a_wrong_password_is_refused_with_a_clear_message(chromium, embedded_server):
    from playwright.sync_api import expect

    page = chromium.new_context().new_page()
    page.goto(f"{embedded_server.base_url}/accounts/login/")
    page.get_by_label("Username").fill("responder")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")


def test_the_organisation_switcher_and_audit_trail_work_for_the_admin(chromium, embedded_server):
    from playwright.sync_api import expect

    page = chromium.new_context().new_page()
    _log_in(page, embedded_server.base_url, "admin")
    page.get_by_text("Demo Brand").first.click()  # opens the switcher
    page.get_by_role("link", name="+ New organisation").click()
    page.get_by_label("Organisation name").fill("Second Brand")
    page.get_by_label("Address").fill("second-brand")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Second Brand is ready")

    page.get_by_role("link", name="Audit").click()
    expect(page.locator("table.audit")).to_contain_text("organization.created")

    page.get_by_text("Second Brand").first.click()
    page.get_by_role("link", name="Demo Brand").click()
    page.wait_for_url(f"{embedded_server.base_url}/o/demo/")


def test_an_admin_builds_a_playbook_from_a_starter_and_versions_it(chromium, embedded_server):
    from playbooks.document import to_yaml
    from playbooks.selectors import starter_documents
    from playwright.sync_api import expect

    page = chromium.new_context().new_page()
    _log_in(page, embedded_server.base_url, "admin")
    page.get_by_role("link", name="Playbooks").click()
    # The demo already holds the six starters; build a seventh from a written document.
    page.get_by_role("link", name="New playbook").click()
    document = dict(starter_documents()["rumour"], name="Fake giveaway scam")
    document["checklist"] = [*document["checklist"], {"title": "Report the fake account", "role": "nobody", "due_minutes": 30}]
    page.get_by_label("Playbook (YAML)").fill(to_yaml(document))
    page.get_by_role("button", name="Create playbook").click()
    expect(page.get_by_role("alert")).to_contain_text("checklist[4].role")

    page.get_by_label("Playbook (YAML)").fill(to_yaml(dict(document, checklist=document["checklist"][:4])))
    page.get_by_role("button", name="Create playbook").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fake giveaway scam v1")

    page.get_by_role("link", name="Edit").click()
    edited = dict(document, checklist=[*document["checklist"][:4], {"title": "Report the fake account", "role": "responder", "due_minutes": 30}])
    page.get_by_label("Playbook (YAML)").fill(to_yaml(edited))
    page.get_by_label("What changed and why").fill("Report impostor accounts")
    page.get_by_role("button", name="Save new version").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("v2")
    expect(page.get_by_text("+30 min · Report the fake account")).to_be_visible()

    page.get_by_role("link", name="changes").first.click()
    expect(page.locator("pre.diff .added").filter(has_text="Report the fake account")).to_be_visible()


def test_an_admin_builds_a_playbook_a_responder_opens_an_incident_and_a_status_change_arrives_live(chromium, embedded_server):
    from playbooks.document import FORMAT, to_yaml
    from playwright.sync_api import expect

    base_url = embedded_server.base_url
    # The admin writes the plan, with the demo people in its roles.
    admin = chromium.new_context().new_page()
    _log_in(admin, base_url, "admin")
    admin.goto(f"{base_url}/o/demo/playbooks/new/")
    plan = {
        "format": FORMAT, "name": "Checkout outage", "category": "service_outage", "default_severity": 2,
        "escalation": [{"severity": 2, "first_statement_due_minutes": 20, "approvals_required": 1, "approver_roles": ["approver_manager"], "notify_roles": ["incident_lead"]}],
        "roles": [{"role": "incident_lead", "member": "admin", "backup": "manager"}, {"role": "responder", "member": "responder"}],
        "checklist": [
            {"title": "Confirm the outage with engineering", "role": "incident_lead", "due_minutes": 5},
            {"title": "Pause scheduled promotional posts", "role": "responder", "due_minutes": 5},
        ],
    }
    admin.get_by_label("Playbook (YAML)").fill(to_yaml(plan))
    admin.get_by_role("button", name="Create playbook").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Checkout outage v1")

    responder = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    _log_in(responder, base_url, "responder")
    responder.get_by_role("link", name="Incidents").click()
    responder.get_by_role("link", name="Open an incident").click()
    responder.get_by_label("Title").fill("Checkout is down")
    responder.get_by_label("Playbook").select_option(label="Checkout outage")
    responder.get_by_label("Where it started", exact=True).select_option("x")
    responder.get_by_role("button", name="Open incident").click()

    expect(responder.get_by_role("heading", level=1)).to_contain_text("Checkout is down")
    # The playbook's checklist, with owners from the playbook's roles.
    expect(responder.locator(".task", has_text="Confirm the outage with engineering")).to_contain_text("Ada Admin")
    expect(responder.locator(".task", has_text="Pause scheduled promotional posts")).to_contain_text("Rita Responder")
    expect(responder.locator("#live-status")).to_have_attribute("data-state", "live")
    assert responder.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the room scrolls sideways on a phone"

    manager = chromium.new_context().new_page()
    _log_in(manager, base_url, "manager")
    manager.goto(responder.url)
    manager.get_by_label("New status").select_option("contained")
    manager.get_by_role("button", name="Change status").click()
    expect(manager.get_by_test_id("incident-status")).to_have_text("Contained")

    # The responder's page was never reloaded.
    expect(responder.locator("#timeline-list")).to_contain_text("Status detected → contained")
    expect(responder.get_by_test_id("incident-status")).to_have_text("Contained")

    responder.locator(".task", has_text="Pause scheduled promotional posts").get_by_role("button").click()
    expect(manager.locator(".task.done", has_text="Pause scheduled promotional posts")).to_contain_text("done by Rita Responder")
