"""The monitoring API beyond who may call it (tests/test_api_permissions.py): the inbox's
filters, keyset pages and live fetches, full-text search, export, rumours, authors, volume
series, bulk triage, sources, watches and file imports.

alice owns org A, bob and frank are responders, carol a manager, dave a viewer; charlie owns
org B. Mentions enter through the real pipeline, as a webhook would deliver them.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crisiscenter.models import AuditEntry
from monitoring import imports, inbox_services, pipeline
from monitoring import services as monitoring_services
from monitoring.models import IngestJob, JobStatus, Mention, MentionMatch, MentionStatus, RejectedItem, Rumour, Sentiment, Source
from playbooks import incident_services
from tests.factories import export_file, mention_draft

pytestmark = pytest.mark.django_db

ACME = "/api/v1/organizations/acme"


def webhook_source(membership, name: str) -> Source:
    source, _secret = monitoring_services.source_create(
        organization=membership.organization, actor_membership=membership, name=name, kind="webhook"
    )
    return source


def ingest(source: Source, *drafts) -> list[Mention]:
    result = pipeline.ingest(source=source, drafts=drafts)
    assert result.rejected == 0, result.problems
    by_id = Mention.unscoped.in_bulk(result.stored_ids)
    return [by_id[pk] for pk in result.stored_ids]


@pytest.fixture
def inbox(alice_membership, bob_membership, carol_membership, frank_membership, dave):
    """Org A's inbox: six mentions from two sources, one watch, some already triaged.

    - ``praise`` (positive, 50,000 followers, matches "Recall"), claimed by bob;
    - ``fury`` and ``worst`` (negative, by angry_customer; fury matches "Recall"), fury replied to by frank;
    - ``plain`` (neutral English) tagged "allergy";
    - ``dutch`` (language nl);
    - ``news`` from the second source, about nuts, linked to ``incident``.
    """
    partner = webhook_source(alice_membership, "Partner monitor")
    newsdesk = webhook_source(alice_membership, "News desk")
    watch = monitoring_services.watch_save(organization=alice_membership.organization, actor_membership=alice_membership, name="Recall", query="recall")
    praise, fury, plain, dutch, worst = ingest(
        partner,
        mention_draft("praise", "I love how fast Acme handled the granola recall, great job!", minutes_ago=50, language="en",
                      author_handle="food_critic", author_name="The Food Critic", author_followers=50_000),
        mention_draft("fury", "The recall is a disaster, terrible and dangerous, I am furious", minutes_ago=40, language="en",
                      author_handle="angry_customer", author_followers=10),
        mention_draft("plain", "Acme granola bars are sold in three shops today.", minutes_ago=30, language="en"),
        mention_draft("dutch", "Waarom staat de terugroepactie niet op de website van Acme?", minutes_ago=20, language="nl",
                      author_handle="bezorgde_ouder"),
        mention_draft("worst", "Worst company ever, awful service", minutes_ago=10, language="en",
                      author_handle="angry_customer", author_followers=10),
    )
    [news] = ingest(newsdesk, mention_draft("news", "Breaking: supplier confirms nuts in the batch", minutes_ago=5, language="en",
                                            author_handle="newsdesk", author_followers=2_000))
    incident = incident_services.incident_open(organization=alice_membership.organization, actor_membership=alice_membership, title="Nuts in the granola")
    inbox_services.mention_claim(mention=praise, actor_membership=bob_membership)
    inbox_services.mention_set_status(mention=fury, actor_membership=frank_membership, status=MentionStatus.REPLIED)
    inbox_services.mention_tag(mention=plain, actor_membership=bob_membership, add=["Allergy"])
    inbox_services.mention_link_incident(mention=news, actor_membership=bob_membership, incident=incident)
    return SimpleNamespace(
        partner=partner, newsdesk=newsdesk, watch=watch, incident=incident, frank=frank_membership.user,
        praise=praise, fury=fury, plain=plain, dutch=dutch, worst=worst, news=news,
        all=[news, worst, dutch, plain, fury, praise],  # newest first, as the inbox lists them
    )


def listed(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def error_fields(response) -> list[str]:
    assert response.status_code == 400, response.content
    return list(response.json()["error"]["fields"])


# --- Filters ----------------------------------------------------------------------------------
def test_the_unfiltered_inbox_lists_every_mention_newest_first(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/mentions/")

    assert listed(response) == [mention.pk for mention in inbox.all]
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(lambda inbox: {"watch": inbox.watch.pk}, lambda inbox: [inbox.fury, inbox.praise], id="watch"),
        pytest.param(lambda inbox: {"source": inbox.newsdesk.pk}, lambda inbox: [inbox.news], id="source"),
        pytest.param(lambda inbox: {"sentiment": "negative"}, lambda inbox: [inbox.news, inbox.worst, inbox.fury], id="sentiment"),
        pytest.param(lambda inbox: {"sentiment": "positive"}, lambda inbox: [inbox.praise], id="sentiment positive"),
        pytest.param(lambda inbox: {"language": "nl"}, lambda inbox: [inbox.dutch], id="language"),
        pytest.param(lambda inbox: {"language": "NL"}, lambda inbox: [inbox.dutch], id="language in capitals"),
        pytest.param(lambda inbox: {"min_reach": 1000}, lambda inbox: [inbox.news, inbox.praise], id="min_reach"),
        pytest.param(lambda inbox: {"status": "replied"}, lambda inbox: [inbox.fury], id="status"),
        pytest.param(
            lambda inbox: {"status": "open"}, lambda inbox: [inbox.news, inbox.worst, inbox.dutch, inbox.plain, inbox.praise], id="status open"
        ),
        pytest.param(lambda inbox: {"assignee": "me"}, lambda inbox: [inbox.praise], id="assignee me (bob)"),
        pytest.param(lambda inbox: {"assignee": "none"}, lambda inbox: [inbox.news, inbox.worst, inbox.dutch, inbox.plain], id="assignee none"),
        pytest.param(lambda inbox: {"assignee": str(inbox.frank.pk)}, lambda inbox: [inbox.fury], id="assignee id"),
        pytest.param(lambda inbox: {"tag": "allergy"}, lambda inbox: [inbox.plain], id="tag"),
        pytest.param(lambda inbox: {"tag": "Allergy"}, lambda inbox: [inbox.plain], id="tag in capitals"),
        pytest.param(lambda inbox: {"incident": inbox.incident.pk}, lambda inbox: [inbox.news], id="incident"),
        pytest.param(
            lambda inbox: {"since": (inbox.dutch.posted_at).isoformat()}, lambda inbox: [inbox.news, inbox.worst, inbox.dutch], id="since"
        ),
        pytest.param(lambda inbox: {"until": (inbox.fury.posted_at).isoformat()}, lambda inbox: [inbox.praise], id="until"),
        pytest.param(lambda inbox: {"q": "nuts"}, lambda inbox: [inbox.news], id="q"),
    ],
)
def test_each_filter_narrows_the_inbox(inbox, bob, api_client_for, params, expected):
    response = api_client_for(bob).get(f"{ACME}/mentions/", params(inbox))

    assert listed(response) == [mention.pk for mention in expected(inbox)]
    assert len(expected(inbox)) < len(inbox.all)


def test_the_sentiment_filter_agrees_with_the_stored_labels(inbox, dave, api_client_for):
    for label in Sentiment.values:
        response = api_client_for(dave).get(f"{ACME}/mentions/", {"sentiment": label})

        stored = Mention.objects.for_organization(inbox.partner.organization_id).filter(sentiment_label=label)
        assert set(listed(response)) == set(stored.values_list("pk", flat=True))


def test_filters_combine(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/mentions/", {"sentiment": "negative", "source": inbox.partner.pk, "status": "open"})

    assert listed(response) == [inbox.worst.pk]


def test_filters_that_exclude_each_other_give_an_empty_page(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/mentions/", {"sentiment": "positive", "source": inbox.newsdesk.pk})

    assert listed(response) == []
    assert response.json()["next_cursor"] is None


INVALID_FILTERS = [
    ("watch", "recall"),
    ("source", "-1"),
    ("sentiment", "furious"),
    ("min_reach", "lots"),
    ("status", "done"),
    ("assignee", "bob"),
    ("incident", "1.5"),
    ("since", "yesterday"),
    ("until", "2026-13-45T10:00:00Z"),
    ("limit", "ten"),
    ("ids", "1,two"),
    ("cursor", "garbage!!"),
    # str.isdigit() says yes to these, int() says no.
    ("watch", "²"),
    ("min_reach", "1²"),
    ("assignee", "²"),
    ("limit", "²"),
]


@pytest.mark.parametrize(("field", "value"), [pytest.param(field, value, id=f"{field}={value}") for field, value in INVALID_FILTERS])
def test_an_invalid_filter_is_a_400_naming_the_parameter(inbox, dave, api_client_for, field, value):
    response = api_client_for(dave).get(f"{ACME}/mentions/", {field: value})

    assert error_fields(response) == [field]
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"watch": "9" * 30}, id="huge watch id"),
        pytest.param({"source": "9" * 30}, id="huge source id"),
        pytest.param({"min_reach": "9" * 30}, id="huge min_reach"),
        pytest.param({"incident": "9" * 30}, id="huge incident id"),
        pytest.param({"assignee": "9" * 30}, id="huge assignee id"),
        pytest.param({"ids": "9" * 30}, id="huge ids"),
        pytest.param({"limit": "9" * 30}, id="huge limit"),
        pytest.param({"since": "0001-01-01T00:00:00+14:00"}, id="since before year 1 in UTC"),
        pytest.param({"q": "nuts\x00"}, id="NUL in the search"),
        pytest.param({"tag": "allergy\x00"}, id="NUL in the tag"),
        pytest.param({"language": "en\x00"}, id="NUL in the language"),
        pytest.param({"q": "\"unbalanced -( OR"}, id="search syntax noise"),
        pytest.param({"language": "x" * 500, "tag": "y" * 500}, id="overlong texts"),
    ],
)
def test_odd_but_well_formed_filter_values_never_crash_the_inbox(inbox, dave, api_client_for, params):
    response = api_client_for(dave).get(f"{ACME}/mentions/", params)

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert set(error_fields(response)) <= set(params)


def test_a_cursor_with_an_absurd_id_never_crashes_the_inbox(inbox, dave, api_client_for):
    cursor = base64.urlsafe_b64encode(f"{timezone.now().isoformat()}|{'9' * 30}".encode()).decode().rstrip("=")

    response = api_client_for(dave).get(f"{ACME}/mentions/", {"cursor": cursor})

    assert response.status_code in (200, 400), response.content


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not a cursor", id="not base64"),
        pytest.param(base64.urlsafe_b64encode(b"2026-11-22T10:00:00+00:00").decode(), id="no id"),
        pytest.param(base64.urlsafe_b64encode(b"2026-11-22T10:00:00|5").decode(), id="naive time"),
        pytest.param(base64.urlsafe_b64encode(b"yesterday|5").decode(), id="not a time"),
        pytest.param(base64.urlsafe_b64encode(b"2026-11-22T10:00:00+00:00|five").decode(), id="id not a number"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe|5").decode(), id="not utf-8"),
    ],
)
def test_a_cursor_the_inbox_did_not_give_out_is_a_400(inbox, dave, api_client_for, cursor):
    response = api_client_for(dave).get(f"{ACME}/mentions/", {"cursor": cursor})

    assert error_fields(response) == ["cursor"]


# --- Keyset pages -----------------------------------------------------------------------------
@pytest.fixture
def crowded_inbox(alice_membership) -> list[Mention]:
    """23 mentions, several posted in the same second, so pages must break ties on the id."""
    source = webhook_source(alice_membership, "Firehose")
    same_second = (timezone.now() - timedelta(minutes=30)).replace(microsecond=0).isoformat()
    drafts = [mention_draft(f"tie-{number}", f"Recall question {number}", posted_at=same_second) for number in range(8)]
    drafts += [mention_draft(f"spread-{number}", f"Recall comment {number}", minutes_ago=number) for number in range(15)]
    ingest(source, *drafts)
    return list(Mention.objects.for_organization(source.organization_id).order_by("-posted_at", "-id"))


def test_walking_every_page_lists_each_mention_exactly_once_in_order(crowded_inbox, dave, api_client_for):
    api = api_client_for(dave)
    seen, cursor, pages = [], None, 0

    while True:
        response = api.get(f"{ACME}/mentions/", {"limit": 5, **({"cursor": cursor} if cursor else {})})
        page = listed(response)
        seen += page
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        assert len(page) == 5

    assert seen == [mention.pk for mention in crowded_inbox]
    assert pages == 5  # 23 mentions, 5 a page


@pytest.mark.parametrize("filter_by", ["watch", "tag", "tag and incident"])
def test_walking_a_watch_or_a_tag_page_by_page_lists_each_of_its_mentions_once_in_order(
    filter_by, alice_membership, bob_membership, dave, api_client_for
):
    # A watch filter pages through the watch's own index and a tag filter through the tag's
    # id: the same order and cursor as the whole inbox, ties on the second broken by the id.
    organization = alice_membership.organization
    watch = monitoring_services.watch_save(organization=organization, actor_membership=alice_membership, name="Questions", query="question")
    crowd = webhook_source(alice_membership, "Firehose")
    same_second = (timezone.now() - timedelta(minutes=30)).replace(microsecond=0).isoformat()
    drafts = [mention_draft(f"tie-{number}", f"Recall {'question' if number % 3 else 'comment'} {number}", posted_at=same_second) for number in range(9)]
    drafts += [mention_draft(f"spread-{number}", f"Recall {'question' if number % 2 else 'comment'} {number}", minutes_ago=number) for number in range(14)]
    stored = ingest(crowd, *drafts)
    incident = incident_services.incident_open(organization=organization, actor_membership=alice_membership, title="Recall")
    for number, mention in enumerate(mention for mention in stored if "question" in mention.text):
        inbox_services.mention_tag(mention=mention, actor_membership=bob_membership, add=["question"])
        if number % 2:
            inbox_services.mention_link_incident(mention=mention, actor_membership=bob_membership, incident=incident)
    params = {
        "watch": {"watch": watch.pk},
        "tag": {"tag": "question"},
        "tag and incident": {"tag": "question", "incident": incident.pk},
    }[filter_by]
    wanted = Mention.objects.for_organization(organization).filter(text__contains="question")
    if filter_by == "tag and incident":
        wanted = wanted.filter(incident=incident)
    expected = list(wanted.order_by("-posted_at", "-id").values_list("pk", flat=True))
    api = api_client_for(dave)
    seen, cursor = [], None

    while True:
        response = api.get(f"{ACME}/mentions/", {"limit": 4, **params, **({"cursor": cursor} if cursor else {})})
        seen += listed(response)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert len(expected) >= 5 and seen == expected


def test_a_tag_nobody_uses_gives_an_empty_page(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/mentions/", {"tag": "no-such-tag"})

    assert response.status_code == 200 and listed(response) == []


def test_a_page_holds_while_new_mentions_arrive(crowded_inbox, dave, api_client_for):
    api = api_client_for(dave)
    first = api.get(f"{ACME}/mentions/", {"limit": 10})
    ingest(Source.unscoped.get(name="Firehose"), mention_draft("breaking", "Recall: breaking news", minutes_ago=0))

    second = api.get(f"{ACME}/mentions/", {"limit": 10, "cursor": first.json()["next_cursor"]})

    assert listed(second) == [mention.pk for mention in crowded_inbox[10:20]]


def test_pages_keep_the_filters(crowded_inbox, dave, api_client_for):
    api = api_client_for(dave)
    ties = [mention.pk for mention in crowded_inbox if mention.external_id.startswith("tie-")]

    first = api.get(f"{ACME}/mentions/", {"limit": 5, "q": "question"})
    second = api.get(f"{ACME}/mentions/", {"limit": 5, "q": "question", "cursor": first.json()["next_cursor"]})

    assert listed(first) + listed(second) == ties
    assert second.json()["next_cursor"] is None


# --- Live fetch by ids ------------------------------------------------------------------------
def test_a_live_fetch_returns_the_given_mentions_that_pass_the_filters(inbox, dave, api_client_for):
    ids = f"{inbox.praise.pk},{inbox.fury.pk},{inbox.plain.pk}"

    response = api_client_for(dave).get(f"{ACME}/mentions/", {"ids": ids, "sentiment": "negative"})

    assert listed(response) == [inbox.fury.pk]
    assert response.json()["next_cursor"] is None


def test_a_live_fetch_never_returns_another_organisations_mentions(inbox, charlie_membership, dave, api_client_for):
    bravo_source = webhook_source(charlie_membership, "Bravo monitor")
    [bravo_mention] = ingest(bravo_source, mention_draft("bravo-1", "Flight delayed again", minutes_ago=1))

    response = api_client_for(dave).get(f"{ACME}/mentions/", {"ids": f"{bravo_mention.pk},{inbox.worst.pk}"})
    only_bravo = api_client_for(dave).get(f"{ACME}/mentions/", {"ids": str(bravo_mention.pk)})

    assert listed(response) == [inbox.worst.pk]
    assert listed(only_bravo) == []


def test_another_organisations_mention_is_not_found_by_id(inbox, charlie_membership, dave, api_client_for):
    [bravo_mention] = ingest(webhook_source(charlie_membership, "Bravo monitor"), mention_draft("bravo-1", "Flight delayed", minutes_ago=1))

    response = api_client_for(dave).get(f"{ACME}/mentions/{bravo_mention.pk}/")

    assert response.status_code == 404


# --- Full-text search -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param("granola", lambda inbox: [inbox.plain, inbox.praise], id="one word"),
        pytest.param("GRANOLA", lambda inbox: [inbox.plain, inbox.praise], id="any case"),
        pytest.param("recall disaster", lambda inbox: [inbox.fury], id="all words"),
        pytest.param('"supplier confirms"', lambda inbox: [inbox.news], id="phrase"),
        pytest.param("recall -disaster", lambda inbox: [inbox.praise], id="excluded word"),
        pytest.param("recall OR nuts", lambda inbox: [inbox.news, inbox.fury, inbox.praise], id="either word"),
        pytest.param("terugroepactie", lambda inbox: [inbox.dutch], id="another language"),
        pytest.param("pineapple", lambda inbox: [], id="no match"),
    ],
)
def test_full_text_search(inbox, dave, api_client_for, is_postgres, q, expected):
    if not is_postgres and (" " in q or q.startswith('"')):
        pytest.skip("web-search syntax needs PostgreSQL; SQLite searches for the text as written")

    response = api_client_for(dave).get(f"{ACME}/mentions/", {"q": q})

    assert listed(response) == [mention.pk for mention in expected(inbox)]


# --- Export -----------------------------------------------------------------------------------
def test_the_export_is_json_lines_the_importer_reads_back(inbox, carol, api_client_for):
    response = api_client_for(carol).get(f"{ACME}/mentions/export/", {"source": inbox.partner.pk})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"] == 'attachment; filename="acme-mentions.jsonl"'
    content = b"".join(response.streaming_content)
    read_back = list(imports.read(content, imports.FileFormat.EXPORT))
    drafts = [draft for _line, draft in read_back]
    assert not [draft for draft in drafts if isinstance(draft, imports.Problem)]
    assert [draft["external_id"] for draft in drafts] == ["worst", "dutch", "plain", "fury", "praise"]
    praise = drafts[-1]
    assert (praise["text"], praise["author_handle"], praise["author_followers"]) == (inbox.praise.text, "food_critic", 50_000)
    assert imports.guess_format("acme-mentions.jsonl", content) == imports.FileFormat.EXPORT


def test_an_exported_file_imports_into_another_organisation_unchanged(inbox, carol, charlie_membership, api_client_for):
    content = b"".join(api_client_for(carol).get(f"{ACME}/mentions/export/").streaming_content)
    drafts = [draft for _line, draft in imports.read(content, imports.FileFormat.EXPORT)]

    stored = ingest(webhook_source(charlie_membership, "Replayed"), *drafts)

    assert sorted((mention.external_id, mention.text, mention.posted_at) for mention in stored) == sorted(
        (mention.external_id, mention.text, mention.posted_at) for mention in inbox.all
    )


def test_the_export_applies_the_filters(inbox, carol, api_client_for):
    content = b"".join(api_client_for(carol).get(f"{ACME}/mentions/export/", {"sentiment": "negative"}).streaming_content)

    assert [json.loads(line)["external_id"] for line in content.decode().splitlines()] == ["news", "worst", "fury"]


def test_an_invalid_export_filter_is_a_400(inbox, carol, api_client_for):
    response = api_client_for(carol).get(f"{ACME}/mentions/export/", {"since": "last week"})

    assert error_fields(response) == ["since"]


# --- Rumours ----------------------------------------------------------------------------------
def test_a_rumour_goes_from_report_to_correction(inbox, bob, carol, api_client_for):
    bob_api = api_client_for(bob)

    created = bob_api.post(f"{ACME}/rumours/", {"claim": "The bars contain peanuts", "facts": "Lab tests pending."}, format="json")
    assert created.status_code == 201, created.content
    rumour_id = created.json()["id"]
    assert (created.json()["status"], created.json()["carriers"]) == ("unverified", 0)

    attached = bob_api.post(f"{ACME}/rumours/{rumour_id}/mentions/", {"mention_ids": [inbox.fury.pk, inbox.news.pk]}, format="json")
    assert attached.status_code == 200
    assert attached.json()["carriers"] == 2

    judged = bob_api.put(
        f"{ACME}/rumours/{rumour_id}/", {"claim": "The bars contain peanuts", "status": "false", "facts": "The lab found none."}, format="json"
    )
    assert judged.status_code == 200
    assert judged.json()["status"] == "false"

    corrected = api_client_for(carol).post(f"{ACME}/rumours/{rumour_id}/correct/", {"correction": "There are no peanuts in the bars."}, format="json")
    assert corrected.status_code == 200
    assert corrected.json()["correction"] == "There are no peanuts in the bars."

    detail = bob_api.get(f"{ACME}/rumours/{rumour_id}/")
    assert detail.status_code == 200
    assert [mention["id"] for mention in detail.json()["mentions"]] == [inbox.news.pk, inbox.fury.pk]
    rumour = Rumour.objects.for_organization(inbox.partner.organization_id).get(pk=rumour_id)
    assert (rumour.status, rumour.facts, rumour.correction) == ("false", "The lab found none.", "There are no peanuts in the bars.")
    assert rumour.corrected_at is not None
    assert [entry.action for entry in AuditEntry.objects.for_organization(rumour.organization_id).filter(object_type="monitoring.rumour", object_id=str(rumour_id)).order_by("id")] == [
        "rumour.created", "rumour.updated", "rumour.corrected",
    ]


def test_detaching_mentions_from_a_rumour(inbox, bob, alice_membership, api_client_for):
    rumour = inbox_services.rumour_save(actor_membership=alice_membership, claim="The factory is closing")
    inbox_services.rumour_attach(rumour=rumour, actor_membership=alice_membership, mention_ids=[inbox.fury.pk, inbox.worst.pk])

    response = api_client_for(bob).post(f"{ACME}/rumours/{rumour.pk}/mentions/", {"mention_ids": [inbox.fury.pk], "detach": True}, format="json")

    assert response.status_code == 200
    assert response.json()["carriers"] == 1
    assert list(rumour.mentions.values_list("pk", flat=True)) == [inbox.worst.pk]


def test_another_organisations_mentions_never_join_a_rumour(inbox, bob, alice_membership, charlie_membership, api_client_for):
    [bravo_mention] = ingest(webhook_source(charlie_membership, "Bravo monitor"), mention_draft("bravo-1", "Peanuts!", minutes_ago=1))
    rumour = inbox_services.rumour_save(actor_membership=alice_membership, claim="The bars contain peanuts")

    response = api_client_for(bob).post(f"{ACME}/rumours/{rumour.pk}/mentions/", {"mention_ids": [bravo_mention.pk]}, format="json")

    assert response.status_code == 200
    assert response.json()["carriers"] == 0
    assert not rumour.mentions.exists()


def test_a_responder_cannot_record_a_correction(inbox, bob, alice_membership, api_client_for):
    rumour = inbox_services.rumour_save(actor_membership=alice_membership, claim="The bars contain peanuts")

    response = api_client_for(bob).post(f"{ACME}/rumours/{rumour.pk}/correct/", {"correction": "No peanuts."}, format="json")

    assert response.status_code == 403
    rumour.refresh_from_db()
    assert (rumour.correction, rumour.corrected_at) == ("", None)


def test_a_rumour_cannot_be_linked_to_another_organisations_incident(inbox, bob, charlie_membership, api_client_for):
    bravo_incident = incident_services.incident_open(organization=charlie_membership.organization, actor_membership=charlie_membership, title="Delays")

    response = api_client_for(bob).post(f"{ACME}/rumours/", {"claim": "Flights cancelled", "incident_id": bravo_incident.pk}, format="json")

    assert error_fields(response) == ["incident_id"]
    assert not Rumour.objects.for_organization(inbox.partner.organization_id).exists()


# --- Authors ----------------------------------------------------------------------------------
def test_influencers_are_ranked_by_reach(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/authors/", {"order": "reach"})

    assert response.status_code == 200
    rows = response.json()
    assert [row["author_handle"] for row in rows[:2]] == ["food_critic", "newsdesk"]
    assert rows[0]["followers"] == 50_000 and rows[0]["name"] == "The Food Critic"
    reaches = [row["reach"] for row in rows]
    assert reaches == sorted(reaches, reverse=True)


def test_detractors_are_ranked_by_negative_mentions(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/authors/", {"order": "negative"})

    assert response.status_code == 200
    first = response.json()[0]
    assert (first["author_handle"], first["mentions"], first["negative"]) == ("angry_customer", 2, 2)


def test_authors_of_one_incident_only_count_its_mentions(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/authors/", {"incident": inbox.incident.pk, "order": "negative"})

    assert response.status_code == 200
    assert [(row["author_handle"], row["mentions"]) for row in response.json()] == [("newsdesk", 1)]


def test_one_authors_history(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/authors/angry_customer/")

    assert response.status_code == 200
    body = response.json()
    assert (body["mentions"], body["negative"]) == (2, 2)
    assert [mention["id"] for mention in body["recent"]] == [inbox.worst.pk, inbox.fury.pk]
    assert api_client_for(dave).get(f"{ACME}/authors/nobody_at_all/").status_code == 404


def test_an_author_handle_with_a_nul_character_is_not_found_rather_than_a_crash(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/authors/angry%00customer/")

    assert response.status_code in (400, 404), response.content


@pytest.mark.parametrize(
    ("field", "value"),
    [pytest.param(field, value, id=f"{field}={value}") for field, value in [("order", "loudest"), ("limit", "many"), ("limit", "²"), ("incident", "x")]],
)
def test_an_invalid_authors_parameter_is_a_400(inbox, dave, api_client_for, field, value):
    assert error_fields(api_client_for(dave).get(f"{ACME}/authors/", {field: value})) == [field]


# --- Volume -----------------------------------------------------------------------------------
def test_the_volume_series_counts_what_was_ingested(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 60})

    assert response.status_code == 200
    buckets = response.json()
    assert sum(bucket["mentions"] for bucket in buckets) == len(inbox.all)
    assert sum(bucket["negative"] for bucket in buckets) == 3
    assert sum(bucket["positive"] for bucket in buckets) == 1
    minutes = [bucket["minute"] for bucket in buckets]
    assert minutes == sorted(minutes)


def test_the_volume_of_one_watch_counts_its_matches(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/volume/", {"watch": inbox.watch.pk, "minutes": 60})

    assert response.status_code == 200
    assert sum(bucket["mentions"] for bucket in response.json()) == 2 == MentionMatch.unscoped.filter(watch=inbox.watch).count()


def test_a_redelivered_batch_does_not_count_twice(inbox, dave, api_client_for):
    again = pipeline.ingest(source=inbox.newsdesk, drafts=[mention_draft("news", "Breaking: supplier confirms nuts in the batch", minutes_ago=5)])

    response = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 60})

    assert (again.stored, again.duplicates) == (0, 1)
    assert sum(bucket["mentions"] for bucket in response.json()) == len(inbox.all)


def test_the_volume_window_leaves_older_minutes_out(inbox, dave, api_client_for):
    response = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 15})

    assert sum(bucket["mentions"] for bucket in response.json()) == 2  # worst and news


@pytest.mark.parametrize("minutes", ["0", str(2 * 365 * 24 * 60 + 1), "an hour", "-5", "²"])
def test_an_invalid_volume_window_is_a_400(inbox, dave, api_client_for, minutes):
    assert error_fields(api_client_for(dave).get(f"{ACME}/volume/", {"minutes": minutes})) == ["minutes"]


@pytest.mark.parametrize("resolution", [5, 60])
def test_the_rollups_add_up_to_the_minutes(inbox, dave, api_client_for, resolution):
    minutes = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 120, "resolution": 1}).json()
    rolled = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 180, "resolution": resolution}).json()

    assert {bucket["resolution"] for bucket in rolled} == {resolution}
    for field in ("mentions", "positive", "neutral", "negative", "reach_sum"):
        assert sum(bucket[field] for bucket in rolled) == sum(bucket[field] for bucket in minutes), field
    assert all(parse_datetime(bucket["minute"]).minute % resolution == 0 for bucket in rolled)
    of_watch = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 180, "resolution": resolution, "watch": inbox.watch.pk}).json()
    assert sum(bucket["mentions"] for bucket in of_watch) == 2


def test_a_long_range_is_read_from_the_rollups(inbox, dave, api_client_for):
    week = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 7 * 24 * 60}).json()
    year = api_client_for(dave).get(f"{ACME}/volume/", {"minutes": 365 * 24 * 60}).json()

    assert {bucket["resolution"] for bucket in week} == {5} and {bucket["resolution"] for bucket in year} == {60}
    assert sum(bucket["mentions"] for bucket in year) == len(inbox.all)


@pytest.mark.parametrize("query", [{"resolution": 7}, {"resolution": "hourly"}, {"resolution": 1, "minutes": 7 * 24 * 60}])
def test_an_invalid_volume_resolution_is_a_400(inbox, dave, api_client_for, query):
    response = api_client_for(dave).get(f"{ACME}/volume/", query)
    assert response.status_code == 400 and set(error_fields(response)) <= {"resolution", "minutes"}


def test_old_buckets_go_by_their_resolutions_retention(inbox, settings):
    from monitoring.models import VolumeBucket, VolumeRollup

    settings.VOLUME_RETENTION_DAYS = {1: 14, 5: 90, 60: 730}
    later = timezone.now() + timedelta(days=20)
    kept_rollups = VolumeRollup.unscoped.count()

    deleted = monitoring_services.volume_prune(now=later, chunk=2)

    assert deleted[1] > 0 and not VolumeBucket.unscoped.exists()  # minutes past 14 days: gone, in chunks of 2
    assert VolumeRollup.unscoped.count() == kept_rollups  # 5-minute and hourly buckets stay
    monitoring_services.volume_prune(now=timezone.now() + timedelta(days=100))
    assert set(VolumeRollup.unscoped.values_list("resolution", flat=True)) == {60}


def test_the_migration_rolls_up_the_minutes_stored_before_it(inbox):
    from importlib import import_module

    from django.apps import apps

    from monitoring.models import VolumeRollup

    expected = sorted(VolumeRollup.unscoped.values_list("watch_id", "resolution", "start", "mentions", "negative"), key=str)
    VolumeRollup.unscoped.all().delete()

    import_module("monitoring.migrations.0006_volume_rollups").backfill(apps, None)

    assert sorted(VolumeRollup.unscoped.values_list("watch_id", "resolution", "start", "mentions", "negative"), key=str) == expected


# --- Tags -------------------------------------------------------------------------------------
def test_tags_are_listed_and_stored_lower_case(inbox, bob, dave, api_client_for):
    response = api_client_for(bob).post(f"{ACME}/mentions/{inbox.worst.pk}/tags/", {"add": ["  Service   Complaint "]}, format="json")

    assert response.status_code == 200
    assert response.json()["tags"] == ["service complaint"]
    assert [tag["name"] for tag in api_client_for(dave).get(f"{ACME}/tags/").json()] == ["allergy", "service complaint"]


# --- Bulk triage ------------------------------------------------------------------------------
def test_a_bulk_action_reports_what_it_skipped_and_why(inbox, frank, charlie_membership, api_client_for):
    [bravo_mention] = ingest(webhook_source(charlie_membership, "Bravo monitor"), mention_draft("bravo-1", "Delayed", minutes_ago=1))
    wanted = [inbox.worst.pk, inbox.praise.pk, bravo_mention.pk, 987654321]

    response = api_client_for(frank).post(f"{ACME}/mentions/bulk/", {"mention_ids": wanted, "action": "status", "status": "no_action"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["done"] == [inbox.worst.pk]
    skipped = {row["id"]: row["reason"] for row in body["skipped"]}
    assert set(skipped) == {inbox.praise.pk, bravo_mention.pk, 987654321}
    assert "Bob" in skipped[inbox.praise.pk]  # bob holds it
    assert skipped[bravo_mention.pk] == skipped[987654321] == "No such mention."
    for mention in (inbox.worst, inbox.praise, bravo_mention):
        mention.refresh_from_db()
    assert (inbox.worst.status, inbox.worst.assignee_id) == (MentionStatus.NO_ACTION, frank.pk)
    assert (inbox.praise.status, inbox.praise.assignee_id) == (MentionStatus.ASSIGNED, inbox.praise.assignee_id)
    assert bravo_mention.status == MentionStatus.NEW


def test_a_bulk_tag_tags_every_mention(inbox, bob, api_client_for):
    ids = [inbox.dutch.pk, inbox.worst.pk]

    response = api_client_for(bob).post(f"{ACME}/mentions/bulk/", {"mention_ids": ids, "action": "tag", "tag": "escalate"}, format="json")

    assert response.status_code == 200
    assert sorted(response.json()["done"]) == sorted(ids)
    assert response.json()["skipped"] == []
    for mention in (inbox.dutch, inbox.worst):
        assert list(mention.tags.values_list("name", flat=True)) == ["escalate"]


def test_a_bulk_link_needs_an_incident_of_this_organisation(inbox, bob, charlie_membership, api_client_for):
    bravo_incident = incident_services.incident_open(organization=charlie_membership.organization, actor_membership=charlie_membership, title="Delays")

    response = api_client_for(bob).post(
        f"{ACME}/mentions/bulk/", {"mention_ids": [inbox.worst.pk], "action": "link_incident", "incident_id": bravo_incident.pk}, format="json"
    )

    assert error_fields(response) == ["incident_id"]
    inbox.worst.refresh_from_db()
    assert inbox.worst.incident_id is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"mention_ids": [1], "action": "status"}, "status", id="status without a status"),
        pytest.param({"mention_ids": [1], "action": "tag"}, "tag", id="tag without a tag"),
        pytest.param({"mention_ids": [], "action": "claim"}, "mention_ids", id="no mentions"),
        pytest.param({"mention_ids": list(range(1, 502)), "action": "claim"}, "mention_ids", id="over 500"),
        pytest.param({"mention_ids": [1], "action": "delete"}, "action", id="unknown action"),
    ],
)
def test_an_invalid_bulk_request_is_a_400_naming_the_field(inbox, bob, api_client_for, body, field):
    assert error_fields(api_client_for(bob).post(f"{ACME}/mentions/bulk/", body, format="json")) == [field]


def test_a_responder_cannot_bulk_assign(inbox, bob, frank, api_client_for):
    response = api_client_for(bob).post(
        f"{ACME}/mentions/bulk/", {"mention_ids": [inbox.worst.pk], "action": "assign", "assignee_id": frank.pk}, format="json"
    )

    assert response.status_code == 403
    inbox.worst.refresh_from_db()
    assert inbox.worst.assignee_id is None


# --- Sources ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        pytest.param({"name": "Mastodon", "kind": "mastodon", "config": {"instance_url": "http://mastodon.example"}}, "config", "https", id="plain http"),
        pytest.param({"name": "Mastodon", "kind": "mastodon", "config": {"instance_url": "https://mastodon.example", "colour": "blue"}}, "config", "colour", id="unknown key"),
        pytest.param({"name": "X", "kind": "x", "config": {}}, "credentials", "bearer token", id="missing credentials"),
        pytest.param({"name": "Myspace", "kind": "myspace"}, "kind", "", id="unknown kind"),
        pytest.param({"name": "Fast", "kind": "rss", "poll_interval_seconds": 5}, "poll_interval_seconds", "15", id="too often"),
        pytest.param({"name": "Partner monitor", "kind": "webhook"}, "name", "exists already", id="name taken"),
        pytest.param({"kind": "webhook"}, "name", "", id="no name"),
    ],
)
def test_an_invalid_source_is_a_400_with_a_clear_message(alice_membership, erin, api_client_for, body, field, words):
    webhook_source(alice_membership, "Partner monitor")
    before = sorted(Source.objects.for_organization(alice_membership.organization).values_list("name", flat=True))

    response = api_client_for(erin).post(f"{ACME}/sources/", body, format="json")

    assert error_fields(response) == [field]
    message = response.json()["error"]["fields"][field][0]
    assert words.lower() in str(message).lower()
    assert sorted(Source.objects.for_organization(alice_membership.organization).values_list("name", flat=True)) == before


def test_credentials_are_never_returned(erin, api_client_for):
    api = api_client_for(erin)
    bearer = "AAAA-super-secret-bearer-token"

    created_x = api.post(f"{ACME}/sources/", {"name": "X", "kind": "x", "credentials": {"bearer_token": bearer}}, format="json")
    created_hook = api.post(f"{ACME}/sources/", {"name": "Partner monitor", "kind": "webhook"}, format="json")
    assert (created_x.status_code, created_hook.status_code) == (201, 201)
    secret = created_hook.json()["webhook_secret"]
    assert secret and created_x.json()["webhook_secret"] is None  # the webhook's secret is shown once, at creation
    hook_id, x_id = created_hook.json()["id"], created_x.json()["id"]
    patched = api.patch(f"{ACME}/sources/{x_id}/", {"credentials": {"bearer_token": bearer + "-rotated"}}, format="json")
    assert patched.status_code == 200

    bodies = [
        created_x.content, patched.content,
        *(api.get(path).content for path in (f"{ACME}/sources/", f"{ACME}/sources/{x_id}/", f"{ACME}/sources/{hook_id}/")),
    ]
    for body in bodies:
        assert bearer.encode() not in body
        assert secret.encode() not in body
        assert b"credentials" not in body
    x_source = Source.unscoped.get(pk=x_id)
    assert x_source.credentials() == {"bearer_token": bearer + "-rotated"}
    assert bearer not in x_source.credentials_encrypted  # stored encrypted


def test_the_webhook_url_is_given_at_creation(erin, api_client_for):
    response = api_client_for(erin).post(f"{ACME}/sources/", {"name": "Partner monitor", "kind": "webhook"}, format="json")

    assert response.json()["webhook_url"] == f"{ACME}/sources/{response.json()['id']}/webhook/"


def test_source_changes_are_audited(erin, api_client_for, org_a):
    api = api_client_for(erin)
    source_id = api.post(f"{ACME}/sources/", {"name": "Partner monitor", "kind": "webhook"}, format="json").json()["id"]
    assert api.patch(f"{ACME}/sources/{source_id}/", {"name": "Partner feed", "is_enabled": False}, format="json").status_code == 200
    assert api.post(f"{ACME}/sources/{source_id}/rotate-secret/").status_code == 200

    entries = list(AuditEntry.objects.for_organization(org_a).filter(object_type="monitoring.source", object_id=str(source_id)).order_by("id"))

    assert [entry.action for entry in entries] == ["source.created", "source.updated", "source.secret_rotated"]
    assert {(entry.actor_id, entry.source) for entry in entries} == {(erin.pk, "api")}
    updated = entries[1]
    assert (updated.before["name"], updated.after["name"]) == ("Partner monitor", "Partner feed")
    assert (updated.before["is_enabled"], updated.after["is_enabled"]) == (True, False)
    assert "secret" not in json.dumps([entry.before for entry in entries] + [entry.after for entry in entries])


def test_polling_a_source_that_is_not_polled_is_refused(alice_membership, erin, api_client_for):
    source = webhook_source(alice_membership, "Partner monitor")

    response = api_client_for(erin).post(f"{ACME}/sources/{source.pk}/poll/")

    assert response.status_code == 400
    source.refresh_from_db()
    assert source.next_poll_at is None


def test_only_webhooks_have_a_secret_to_rotate(alice_membership, erin, api_client_for):
    polled, _ = monitoring_services.source_create(
        organization=alice_membership.organization, actor_membership=alice_membership, name="Mastodon", kind="mastodon",
        config={"instance_url": "https://mastodon.example"},
    )
    before = polled.credentials_encrypted

    response = api_client_for(erin).post(f"{ACME}/sources/{polled.pk}/rotate-secret/")

    assert response.status_code == 400
    polled.refresh_from_db()
    assert polled.credentials_encrypted == before


def test_another_organisations_source_is_not_found(charlie_membership, erin, api_client_for):
    bravo_source = webhook_source(charlie_membership, "Bravo monitor")

    for response in (
        api_client_for(erin).get(f"{ACME}/sources/{bravo_source.pk}/"),
        api_client_for(erin).patch(f"{ACME}/sources/{bravo_source.pk}/", {"name": "Mine now"}, format="json"),
    ):
        assert response.status_code == 404
    bravo_source.refresh_from_db()
    assert bravo_source.name == "Bravo monitor"


# --- Watches ----------------------------------------------------------------------------------
def test_watch_changes_are_audited(erin, api_client_for, org_a):
    api = api_client_for(erin)
    created = api.post(f"{ACME}/watches/", {"name": "Recall", "query": "recall"}, format="json")
    assert created.status_code == 201
    watch_id = created.json()["id"]
    assert api.put(f"{ACME}/watches/{watch_id}/", {"name": "Recall", "query": "recall OR recalled", "language": "EN"}, format="json").status_code == 200

    entries = list(AuditEntry.objects.for_organization(org_a).filter(object_type="monitoring.watch", object_id=str(watch_id)).order_by("id"))

    assert [entry.action for entry in entries] == ["watch.created", "watch.updated"]
    assert {(entry.actor_id, entry.source) for entry in entries} == {(erin.pk, "api")}
    assert (entries[1].before["query"], entries[1].after["query"], entries[1].after["language"]) == ("recall", "recall OR recalled", "en")


def test_a_watch_shows_its_query_as_x_will_run_it(erin, api_client_for):
    response = api_client_for(erin).post(f"{ACME}/watches/", {"name": "Recall", "query": "recall -refund", "language": "en"}, format="json")

    assert response.status_code == 201
    assert response.json()["x_query"]
    assert "recall" in response.json()["x_query"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "Broken", "query": "(recall OR"}, "query", id="unbalanced"),
        pytest.param({"name": "Broken", "query": "recall", "language": "english!"}, "language", id="bad language"),
        pytest.param({"name": "Broken"}, "query", id="no query"),
    ],
)
def test_an_invalid_watch_is_a_400_naming_the_field(erin, org_a, api_client_for, body, field):
    response = api_client_for(erin).post(f"{ACME}/watches/", body, format="json")

    assert error_fields(response) == [field]
    assert not AuditEntry.objects.for_organization(org_a).filter(action="watch.created").exists()


# --- Imports ----------------------------------------------------------------------------------
def upload(api, content: bytes, file_name: str, capture, **fields):
    """POST a file as an admin would; with ``capture`` the job runs to the end before returning."""
    with capture(execute=True):
        return api.post(f"{ACME}/imports/", {"file": SimpleUploadedFile(file_name, content), **fields}, format="multipart")


def import_report(api, job_id: int) -> dict:
    response = api.get(f"{ACME}/imports/{job_id}/")
    assert response.status_code == 200
    return response.json()


CSV_WITH_BAD_ROWS = (
    "id,when,body,who\n"
    "c-1,2026-11-22T10:00:00Z,Is the recall real?,worried_parent\n"
    "c-2,yesterday,The recall notice is gone,reader\n"
    "c-3,2026-11-22T10:02:00Z,,reader\n"
    "c-4,2026-11-22T10:03:00Z\n"
    "c-5,2026-11-22T10:04:00Z,Recall: the shop took the bars back,shopper\n"
).encode()
CSV_MAPPING = {"external_id": "id", "posted_at": "when", "text": "body", "author_handle": "who"}


def test_a_csv_import_stores_the_good_rows_and_lists_the_bad_ones(erin, org_a, api_client_for, eager_celery, django_capture_on_commit_callbacks):
    api = api_client_for(erin)

    response = upload(api, CSV_WITH_BAD_ROWS, "export.csv", django_capture_on_commit_callbacks, column_mapping=json.dumps(CSV_MAPPING))

    assert response.status_code == 201, response.content
    assert (response.json()["file_format"], response.json()["total"]) == ("csv", 5)
    report = import_report(api, response.json()["id"])
    job = report["job"]
    assert (job["status"], job["stored"], job["rejected"], job["duplicates"], job["progress"]) == ("done", 2, 3, 0, 1.0)
    assert [(row["line"], row["reason"]) for row in report["rejected"]] == [
        (3, "posted_at is not an ISO 8601 time: 'yesterday'"),
        (4, "missing text (mapped from 'body')"),
        (5, "has 2 fields, the header has 4"),
    ]
    stored = Mention.objects.for_organization(org_a).order_by("external_id")
    assert [(mention.external_id, mention.author_handle) for mention in stored] == [("c-1", "worried_parent"), ("c-5", "shopper")]
    assert IngestJob.objects.for_organization(org_a).get(pk=job["id"]).status == JobStatus.DONE


def test_a_nul_character_in_a_csv_cell_does_not_sink_the_import(erin, org_a, api_client_for, eager_celery, django_capture_on_commit_callbacks):
    api = api_client_for(erin)
    content = (
        "id,when,body,who\n"
        "n-1,2026-11-22T10:00:00Z,Is the recall real?,worried_parent\n"
        "n-2,2026-11-22T10:01:00Z,Copied from a PDF\x00 with a NUL,reader\n"
    ).encode()

    response = upload(api, content, "export.csv", django_capture_on_commit_callbacks, column_mapping=json.dumps(CSV_MAPPING))

    assert response.status_code == 201, response.content
    job = import_report(api, response.json()["id"])["job"]
    assert job["status"] == "done"
    assert job["stored"] + job["rejected"] == 2
    assert "n-1" in set(Mention.objects.for_organization(org_a).values_list("external_id", flat=True))


def test_importing_the_same_csv_again_stores_nothing_twice(erin, org_a, api_client_for, eager_celery, django_capture_on_commit_callbacks):
    api = api_client_for(erin)
    mapping = json.dumps(CSV_MAPPING)
    upload(api, CSV_WITH_BAD_ROWS, "export.csv", django_capture_on_commit_callbacks, column_mapping=mapping)

    again = upload(api, CSV_WITH_BAD_ROWS, "export.csv", django_capture_on_commit_callbacks, column_mapping=mapping)

    job = import_report(api, again.json()["id"])["job"]
    assert (job["stored"], job["duplicates"], job["rejected"]) == (0, 2, 3)
    assert Mention.objects.for_organization(org_a).count() == 2


def test_a_jsonl_import_reports_the_malformed_lines(erin, org_a, api_client_for, eager_celery, django_capture_on_commit_callbacks):
    api = api_client_for(erin)
    content = (
        export_file(mention_draft("j-1", "Recall?"))
        + b'{"external_id": "j-2", "text": "Recall!", \n'
        + b"[1, 2]\n"
        + export_file(mention_draft("j-4", "Recall."))
    )

    response = upload(api, content, "mentions.jsonl", django_capture_on_commit_callbacks)

    assert response.status_code == 201, response.content
    report = import_report(api, response.json()["id"])
    assert (report["job"]["status"], report["job"]["stored"], report["job"]["rejected"]) == ("done", 2, 2)
    rejected = [(row["line"], row["reason"]) for row in report["rejected"]]
    assert rejected[0][0] == 2 and rejected[0][1].startswith("not valid JSON")
    assert rejected[1] == (3, "each line must be a JSON object")
    assert sorted(Mention.objects.for_organization(org_a).values_list("external_id", flat=True)) == ["j-1", "j-4"]


@pytest.mark.parametrize(
    ("content", "file_name", "fields"),
    [
        pytest.param(b"id,when,body\nc-1,2026-11-22T10:00:00Z,caf\xe9 au lait\n", "latin1.csv", {"column_mapping": json.dumps({"posted_at": "when", "text": "body"})}, id="latin-1 csv"),
        pytest.param(b'{"external_id": "j-1", "text": "caf\xe9"}\n', "latin1.jsonl", {}, id="latin-1 jsonl"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.png", {}, id="a picture"),
    ],
)
def test_an_unreadable_file_is_a_400_and_no_job(erin, org_a, api_client_for, content, file_name, fields):
    response = api_client_for(erin).post(f"{ACME}/imports/", {"file": SimpleUploadedFile(file_name, content), **fields}, format="multipart")

    assert error_fields(response) == ["file"]
    assert "UTF-8" in response.json()["error"]["message"]
    assert not IngestJob.objects.for_organization(org_a).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({}, "file", id="csv without a mapping"),
        pytest.param({"column_mapping": json.dumps({"text": "body", "posted_at": "no such column"})}, "file", id="mapping to a missing column"),
        pytest.param({"column_mapping": "{not json"}, "column_mapping", id="mapping not json"),
        pytest.param({"column_mapping": json.dumps(CSV_MAPPING), "kind": "drill"}, "file_format", id="drill of a plain csv"),
        pytest.param({"column_mapping": json.dumps(CSV_MAPPING), "speed": "fast"}, "speed", id="speed not a number"),
    ],
)
def test_an_import_that_cannot_start_is_a_400_naming_the_field(erin, org_a, api_client_for, fields, field):
    response = api_client_for(erin).post(f"{ACME}/imports/", {"file": SimpleUploadedFile("export.csv", CSV_WITH_BAD_ROWS), **fields}, format="multipart")

    assert error_fields(response) == [field]
    assert not IngestJob.objects.for_organization(org_a).exists()


def test_an_import_without_a_file_is_a_400(erin, api_client_for):
    assert error_fields(api_client_for(erin).post(f"{ACME}/imports/", {}, format="multipart")) == ["file"]


def test_a_cancelled_import_stores_nothing_more(erin, org_a, alice_membership, api_client_for):
    job = monitoring_services.job_create(
        organization=org_a, actor_membership=alice_membership, kind="file", file_name="mentions.jsonl",
        content=export_file(mention_draft("j-1", "Recall?")),
    )

    response = api_client_for(erin).post(f"{ACME}/imports/{job.pk}/cancel/")
    ran = monitoring_services.job_step(job_id=job.pk)  # the queued step arrives after the cancel

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert ran is None
    job.refresh_from_db()
    assert (job.status, job.stored) == (JobStatus.CANCELLED, 0)
    assert not Mention.objects.for_organization(org_a).exists()
    assert not RejectedItem.objects.for_organization(org_a).exists()
