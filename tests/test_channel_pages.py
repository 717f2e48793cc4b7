"""Adding publishing channels and switching them off and on from the admins' publishing page.

erin (admin) runs publishing; alice owns Acme; bob (responder) writes statements; carol is a
manager; charlie is an outsider. The real adapters check every setting: the example hosts do
not resolve here, which the private-address check lets through (the request itself would fail).
"""

from __future__ import annotations

import pytest

from crisiscenter.models import AuditEntry
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import Platform
from responses import services
from responses.models import BUILTIN_CHANNEL_KINDS, PublishingChannel
from tests.factories import valid_playbook_document

pytestmark = pytest.mark.django_db

ACME = "/o/acme"
PUBLISHING = f"{ACME}/publishing/"
ADD = f"{ACME}/publishing/channels/"

X_SECRETS = {"consumer_key": "xck-consumer-key-7f3a", "consumer_secret": "xcs-consumer-secret-91bd",
             "access_token": "1234-xat-access-token-c0de", "access_token_secret": "xats-token-secret-5eed"}
MASTODON_TOKEN = "masto-access-token-4a4a"
BLUESKY_PASSWORD = "bsky-app-pass-wd12"
WEBHOOK_SECRET = "webhook-signing-secret-0123456789"
WEBHOOK_PATH = "/hooks/T0KEN-IN-THE-PATH-8c1e"
SECRETS = [*X_SECRETS.values(), MASTODON_TOKEN, BLUESKY_PASSWORD, WEBHOOK_SECRET, "T0KEN-IN-THE-PATH"]

POSTS = {
    "x": {"channel-kind": "x", "channel-name": "Acme on X", "x-handle": "@acme",
          **{f"x-{key}": value for key, value in X_SECRETS.items()}},
    "mastodon": {"channel-kind": "mastodon", "channel-name": "Acme on Mastodon", "mastodon-instance_url": "https://mastodon.example/",
                 "mastodon-visibility": "unlisted", "mastodon-max_characters": "1000", "mastodon-access_token": MASTODON_TOKEN},
    "bluesky": {"channel-kind": "bluesky", "channel-name": "Acme on Bluesky", "bluesky-service_url": "https://pds.example",
                "bluesky-handle": "@acme.example", "bluesky-app_password": BLUESKY_PASSWORD},
    "webhook": {"channel-kind": "webhook", "channel-name": "Press wire", "webhook-url": f"https://hooks.example{WEBHOOK_PATH}",
                "webhook-secret": WEBHOOK_SECRET},
}
STORED = {
    "x": ({"handle": "acme"}, X_SECRETS),
    "mastodon": ({"instance_url": "https://mastodon.example", "visibility": "unlisted", "max_characters": 1000}, {"access_token": MASTODON_TOKEN}),
    "bluesky": ({"service_url": "https://pds.example"}, {"handle": "acme.example", "app_password": BLUESKY_PASSWORD}),
    "webhook": ({"url": f"https://hooks.example{WEBHOOK_PATH}"}, {"secret": WEBHOOK_SECRET}),
}


@pytest.fixture
def incident(org_a, alice_membership, bob_membership, carol_membership, erin_membership, dave_membership):
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
    return incident_services.incident_open(
        organization=org_a, actor_membership=carol_membership, title="Nuts in the granola", playbook=playbook,
        severity=2, origin_platform=Platform.MASTODON, what_happened="Batch 42 may contain nuts.",
    )


@pytest.fixture
def browser(login_client, personas, erin):
    users = {**personas, "erin": erin}
    return lambda persona: login_client(users[persona])


def _accounts(organization) -> list[str]:
    """The names of the channels added (the hub and e-mail exist once the page is opened)."""
    return sorted(PublishingChannel.objects.for_organization(organization).exclude(kind__in=BUILTIN_CHANNEL_KINDS).values_list("name", flat=True))


def _composer_offers(browser, incident) -> list[str]:
    page = browser("bob").get(f"{ACME}/incidents/{incident.pk}/statements/").content.decode()
    choices = page.split("<legend>Publish on</legend>")[1].split("</fieldset>")[0]
    return [kind for kind in ("hub", "email", "x", "mastodon", "bluesky", "webhook") if f'value="{kind}"' in choices]


# --- adding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(POSTS))
def test_an_admin_adds_each_kind_of_channel_from_the_publishing_page(incident, erin, browser, kind):
    admin = browser("erin")

    response = admin.post(ADD, POSTS[kind])

    assert response.status_code == 302
    assert response["Location"] == PUBLISHING
    channel = PublishingChannel.objects.for_organization(incident.organization).get(kind=kind)
    config, credentials = STORED[kind]
    assert (channel.name, channel.config, channel.credentials()) == (POSTS[kind]["channel-name"], config, credentials)
    assert (channel.is_enabled, channel.created_by) == (True, erin)
    page = admin.get(PUBLISHING).content.decode()
    assert f"Channel “{channel.name}” added and switched on." in page
    card = page.split(f'data-channel-id="{channel.pk}"')[1].split("</section>")[0]
    assert "<dt>Credentials</dt><dd>set</dd>" in card


def test_only_the_chosen_kinds_fields_are_read(incident, browser):
    # Without JavaScript every kind's fields are sent; those of the other kinds are ignored, even broken ones.
    response = browser("erin").post(ADD, {**POSTS["webhook"], "x-consumer_key": "stray\x00key", "mastodon-instance_url": "http://10.0.0.1/"})

    assert response.status_code == 302
    channel = PublishingChannel.objects.for_organization(incident.organization).get(name="Press wire")
    assert channel.credentials() == {"secret": WEBHOOK_SECRET}


def test_the_page_offers_a_fieldset_per_kind_with_secrets_as_password_inputs(incident, browser):
    page = browser("erin").get(PUBLISHING).content.decode()

    form = page.split('id="channel-form"')[1].split("</form>")[0]
    assert [kind for kind in POSTS if f'data-kind="{kind}"' in form] == list(POSTS)
    for name in ("x-consumer_key", "x-consumer_secret", "x-access_token", "x-access_token_secret", "mastodon-access_token",
                 "bluesky-app_password", "webhook-secret"):
        field = form.split(f'name="{name}"')[0].rsplit("<input", 1)[1] + form.split(f'name="{name}"')[1].split(">")[0]
        assert 'type="password"' in field and 'autocomplete="off"' in field
    # Nothing is required in the browser: without JavaScript the other kinds' fields are on the page too.
    assert " required" not in form.split('data-kind="x"')[1]
    assert "js/publishing_channels.js" in page


# --- refusals -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("post", "problem", "kept"), [
    ({**POSTS["mastodon"], "mastodon-instance_url": "http://mastodon.example"}, "instance_url must be an https:// address",
     ['value="Acme on Mastodon"', 'value="http://mastodon.example"', '<option value="unlisted" selected>']),
    ({**POSTS["webhook"], "webhook-secret": "short-secret"}, "The signing secret must be at least 16 characters long.", ['value="Press wire"']),
    ({key: value for key, value in POSTS["x"].items() if key not in ("x-access_token", "x-access_token_secret")},
     "OAuth 1.0a needs all four keys; missing: The access token, The access token secret.", ['value="Acme on X"', 'value="@acme"']),
])
def test_a_bad_configuration_is_a_message_that_keeps_what_was_typed_but_not_the_secrets(incident, browser, post, problem, kept):
    response = browser("erin").post(ADD, post)

    assert response.status_code == 400
    page = response.content.decode()
    message = page.split('class="messages"')[1].split("</div>")[0]
    assert "Channel not added." in message and problem in message
    for value in kept:
        assert value in page
    for secret in [*SECRETS, "short-secret"]:
        assert secret not in page
    assert _accounts(incident.organization) == []


def test_a_missing_required_setting_is_named(incident, browser):
    response = browser("erin").post(ADD, {**POSTS["bluesky"], "bluesky-app_password": ""})

    assert response.status_code == 400
    assert "App password: This field is required." in response.content.decode()
    assert _accounts(incident.organization) == []


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("channel-name", "Acme\x01 on X", "Control characters (tabs, line breaks…) are not allowed here."),
    ("channel-name", "Acme\x00 on X", "Null characters are not allowed."),
    ("x-handle", "acme\x1b", "Control characters (tabs, line breaks…) are not allowed here."),
    ("x-consumer_key", "xck\x00", "Null characters are not allowed."),
])
def test_nul_and_control_characters_are_refused(incident, browser, field, value, problem):
    response = browser("erin").post(ADD, {**POSTS["x"], field: value})

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert _accounts(incident.organization) == []


def test_a_duplicate_name_is_refused(incident, alice_membership, browser):
    services.channel_create(organization=incident.organization, actor_membership=alice_membership, kind="webhook", name="Acme on Mastodon",
                            config={"url": "https://hooks.example/other"}, credentials={"secret": "another-signing-secret-00"})

    response = browser("erin").post(ADD, POSTS["mastodon"])

    assert response.status_code == 409
    page = response.content.decode()
    assert "There is already a channel with that name." in page and MASTODON_TOKEN not in page
    assert PublishingChannel.objects.for_organization(incident.organization).get(name="Acme on Mastodon").kind == "webhook"


@pytest.mark.parametrize("name", ["Public crisis hub", "e-mail to hub subscribers"])
def test_the_builtin_channel_names_are_refused(incident, browser, name):
    response = browser("erin").post(ADD, {**POSTS["webhook"], "channel-name": name})

    assert response.status_code == 400
    assert "That name belongs to a built-in channel; choose another." in response.content.decode()
    assert not PublishingChannel.objects.for_organization(incident.organization).filter(kind="webhook").exists()


@pytest.mark.parametrize(("persona", "status"), [("bob", 403), ("carol", 403), ("charlie", 404)])
def test_only_admins_add_and_switch_channels(incident, alice_membership, browser, persona, status):
    channel = services.channel_create(organization=incident.organization, actor_membership=alice_membership, kind="mastodon", name="Existing",
                                      config={"instance_url": "https://mastodon.example"}, credentials={"access_token": "existing-token"})

    assert browser(persona).post(ADD, POSTS["webhook"]).status_code == status
    assert browser(persona).post(f"{ADD}{channel.pk}/enabled/", {"enabled": "0"}).status_code == status

    assert _accounts(incident.organization) == ["Existing"]
    channel.refresh_from_db()
    assert channel.is_enabled


# --- afterwards -----------------------------------------------------------------------------------
def test_the_secrets_never_appear_in_any_page_afterwards(incident, browser):
    for post in POSTS.values():
        assert browser("erin").post(ADD, post).status_code == 302

    pages = {
        "publishing": ("erin", PUBLISHING), "audit log": ("alice", f"{ACME}/audit/"), "composer": ("bob", f"{ACME}/incidents/{incident.pk}/statements/"),
        "incident": ("bob", f"{ACME}/incidents/{incident.pk}/"), "approvals": ("carol", f"{ACME}/approvals/"),
        "scheduled posts": ("carol", f"{ACME}/scheduled/"), "war room": ("alice", f"{ACME}/"),
    }
    for name, (persona, path) in pages.items():
        response = browser(persona).get(path)
        assert response.status_code == 200, name
        for secret in SECRETS:
            assert secret not in response.content.decode(), f"{secret} on the {name} page"
    publishing = browser("erin").get(PUBLISHING).content.decode()
    assert "<dt>Sends to</dt><dd>https://hooks.example/…</dd>" in publishing
    assert "<dt>Account</dt><dd>@acme</dd>" in publishing
    # The audit log keeps the webhook's host only.
    created = AuditEntry.unscoped.get(organization=incident.organization, action="channel.created", after__kind="webhook")
    assert created.after["config"] == {"url": "https://hooks.example/…"}


def test_switching_a_channel_off_removes_it_from_the_composers_choices(incident, browser):
    admin = browser("erin")
    admin.post(ADD, POSTS["mastodon"])
    channel = PublishingChannel.objects.for_organization(incident.organization).get(kind="mastodon")
    assert "mastodon" in _composer_offers(browser, incident)

    response = admin.post(f"{ADD}{channel.pk}/enabled/", {"enabled": "0"})

    assert response.status_code == 302
    assert response["Location"] == PUBLISHING
    channel.refresh_from_db()
    assert not channel.is_enabled
    assert AuditEntry.unscoped.filter(organization=incident.organization, action="channel.disabled").count() == 1
    assert _composer_offers(browser, incident) == ["hub", "email"]
    page = admin.get(PUBLISHING).content.decode()
    assert "Acme on Mastodon switched off" in page and 'aria-label="Switch Acme on Mastodon on"' in page

    admin.post(f"{ADD}{channel.pk}/enabled/", {"enabled": "1"})

    channel.refresh_from_db()
    assert channel.is_enabled
    assert "mastodon" in _composer_offers(browser, incident)


@pytest.mark.parametrize("enabled", ["", "yes", "\x00"])
def test_an_unclear_switch_changes_nothing(incident, alice_membership, browser, enabled):
    channel = services.channel_create(organization=incident.organization, actor_membership=alice_membership, kind="mastodon", name="Existing",
                                      config={"instance_url": "https://mastodon.example"}, credentials={"access_token": "existing-token"})

    response = browser("erin").post(f"{ADD}{channel.pk}/enabled/", {"enabled": enabled}, follow=True)

    assert "Switch the channel on or off." in response.content.decode()
    channel.refresh_from_db()
    assert channel.is_enabled


def test_switching_a_channel_of_another_organisation_or_a_huge_id_is_404(incident, org_b, charlie_membership, browser):
    theirs = services.channel_create(organization=org_b, actor_membership=charlie_membership, kind="mastodon", name="Bravo on Mastodon",
                                     config={"instance_url": "https://mastodon.example"}, credentials={"access_token": "bravo-token"})

    assert browser("erin").post(f"{ADD}{theirs.pk}/enabled/", {"enabled": "0"}).status_code == 404
    assert browser("erin").post(f"{ADD}99999999999999999999999/enabled/", {"enabled": "0"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_enabled
