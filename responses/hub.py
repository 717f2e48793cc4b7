"""The public crisis hub: what it shows (only approved, published content) and who it mails.

The one rule of the hub: a ``StatementVersion`` is public when it has a ``Publication`` on a
channel of kind ``hub`` whose status is ``succeeded``. Everything here is read through
``published_on_hub`` and nothing else — drafts, versions under review, approved-but-unsent
ones, failed or queued hub publications and reply templates never reach a reader. The
incident's internal fields (title, fact sheet, severity label) are never shown; the public
title is the newest published update's headline.

Reads build plain dataclasses (``IncidentHub``) that the pages, the Atom feeds, the
Statuspage-compatible JSON, the banner and the subscriber e-mails all render from, so they
cannot disagree about what is public.

Subscriptions: double opt-in, one-click unsubscribe (RFC 8058). The link token is an HMAC of a
random nonce under SECRET_KEY; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import smtplib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.core import mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation.trans_real import parse_accept_lang_header

from crisiscenter.audit import audit_record
from crisiscenter.models import Organization
from playbooks.models import Incident
from responses.models import (
    HUB_UPDATE_KINDS,
    ChannelKind,
    HubEmailDelivery,
    HubPage,
    HubSubscription,
    PublicStatus,
    Publication,
    PublicationStatus,
    Statement,
    StatementKind,
    StatementVersion,
)

logger = logging.getLogger(__name__)

# What the hub accepts from a URL or its form (anything else is refused before it reaches the
# database): slugs as the URL converter and the models make them, languages as playbooks
# declare them (``en``, ``pt-BR``), and link tokens as ``subscription_token`` makes them.
ORGANIZATION_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")
PAGE_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,80}")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
TOKEN = re.compile(r"[0-9a-f]{64}")
# Help links come from the playbook (admin-curated) but are rendered only with these schemes.
SAFE_URL = re.compile(r"^(https?://|mailto:|tel:)[^\s\x00-\x1f\x7f<>\"']+$", re.IGNORECASE)
# Statuspage impact from the incident's severity (1 critical … 4 low).
IMPACT_FOR_SEVERITY = {1: "critical", 2: "major", 3: "minor", 4: "none"}
IMPACT_ORDER = ["none", "minor", "major", "critical"]
INDICATOR_DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}


# --- what is public ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedVersion:
    """One version as it went out on the hub."""

    version: StatementVersion
    statement: Statement
    published_at: datetime


@dataclass
class HubEntry:
    """One statement on the hub in the chosen language: its newest published wording and the
    wordings it replaced (newest first)."""

    statement: Statement
    current: PublishedVersion
    history: list[PublishedVersion]
    first_published_at: datetime
    corrects: HubEntry | None = None
    corrected_by: list[HubEntry] = field(default_factory=list)
    corrects_time: datetime | None = None  # when the corrected statement first went out

    @property
    def version(self) -> StatementVersion:
        return self.current.version

    @property
    def published_at(self) -> datetime:
        return self.current.published_at

    @property
    def language(self) -> str:
        return self.statement.language

    @property
    def anchor(self) -> str:
        return f"statement-{self.group_id}"

    @property
    def group_id(self) -> int:
        return self.statement.translation_of_id or self.statement.pk

    @property
    def title(self) -> str:
        return public_title(self.version)


@dataclass
class IncidentHub:
    """An incident's public page in one language."""

    page: HubPage
    language: str
    languages: list[str]
    default_language: str
    updates: list[HubEntry]  # newest first; updates[0] is the top of the page
    faq: list[HubEntry]
    help_links: list[dict]
    published: list[PublishedVersion]  # every public version of the page, all languages, oldest first
    status: str  # the newest update's public status, whatever its language
    created_at: datetime
    original_updates: list[HubEntry] = field(default_factory=list)  # updates in the original language

    @property
    def latest(self) -> HubEntry | None:
        return self.updates[0] if self.updates else None

    @property
    def timeline(self) -> list[HubEntry]:
        return self.updates[1:]

    @property
    def title(self) -> str:
        return self.latest.title if self.latest else ""

    @property
    def is_current(self) -> bool:
        return self.status != PublicStatus.RESOLVED

    @property
    def updated_at(self) -> datetime:
        return self.page.updated_at

    @property
    def fact_sections(self) -> list[dict]:
        """The four sections under the latest update, each from the newest update that has it
        in the reader's language, else in the original's (a translation may leave one out)."""
        sections = []
        for name, label in FACT_LABELS:
            for entries in (self.updates, self.original_updates):
                entry = next((entry for entry in entries if getattr(entry.version, name).strip()), None)
                if entry is not None:
                    sections.append({"name": name, "label": label, "text": getattr(entry.version, name), "entry": entry})
                    break
        return sections

    @property
    def next_update_at(self) -> datetime | None:
        if not self.is_current:
            return None
        return next((entry.version.next_update_at for entry in self.updates if entry.version.next_update_at), None)

    @property
    def spokesperson(self) -> str:
        # The spokesperson approved with the words (the version's), not the draft's current one.
        person = next((entry.version.spokesperson for entry in self.updates if entry.version.spokesperson_id), None)
        return str(person) if person else ""


FACT_LABELS = (("what_happened", "What happened"), ("known", "What we know"), ("unknown", "What we don't know yet"), ("what_to_do", "What you should do"))


def public_title(version: StatementVersion) -> str:
    if version.headline.strip():
        return version.headline.strip()
    lines = [line.strip() for line in version.body.splitlines() if line.strip()]
    return lines[0][:200] if lines else ""


def published_on_hub(organization_id: int, incident_ids: list[int] | None = None) -> list[PublishedVersion]:
    """Every version that succeeded on the organisation's hub (reply templates never), oldest
    first, each once (the first hub publication of it counts)."""
    publications = (
        Publication.unscoped.filter(
            organization_id=organization_id, channel_kind=ChannelKind.HUB, channel__kind=ChannelKind.HUB,
            status=PublicationStatus.SUCCEEDED, published_at__isnull=False,
        )
        .exclude(statement__kind=StatementKind.REPLY_TEMPLATE)
        .select_related("version", "version__spokesperson", "statement")
        .order_by("published_at", "pk")
    )
    if incident_ids is not None:
        publications = publications.filter(statement__incident_id__in=incident_ids)
    seen: set[int] = set()
    rows = []
    for publication in publications:
        if publication.version_id in seen or publication.version.statement_id != publication.statement_id:
            continue
        seen.add(publication.version_id)
        rows.append(PublishedVersion(version=publication.version, statement=publication.statement, published_at=publication.published_at))
    return rows


def choose_language(available: list[str], default: str, requested: str = "", accept_language: str = "") -> str:
    """The switch (``?lang=``) wins, then the browser's Accept-Language, then the original's."""
    by_lower = {language.lower(): language for language in available}
    if requested and requested.lower() in by_lower:
        return by_lower[requested.lower()]
    if accept_language:
        try:
            preferences = parse_accept_lang_header(accept_language[:500])
        except ValueError:
            preferences = ()
        for tag, quality in preferences:
            tag = tag.lower()
            if quality <= 0 or tag == "*":
                continue
            if tag in by_lower:
                return by_lower[tag]
            primary = tag.split("-")[0]
            for language in available:
                if language.lower() == primary or language.lower().split("-")[0] == primary:
                    return language
    return default


def _default_language(published: list[PublishedVersion]) -> str:
    originals = Counter(row.statement.language for row in published if row.statement.translation_of_id is None)
    if originals:
        return originals.most_common(1)[0][0]
    return published[0].statement.language if published else settings.LANGUAGE_CODE


def _entries(published: list[PublishedVersion], language: str, kinds) -> list[HubEntry]:
    """One entry per statement (an original with its translations counts once), in
    ``language`` when it has a published translation there, else in the original's."""
    by_statement: dict[int, list[PublishedVersion]] = defaultdict(list)
    groups: dict[int, dict[str, int]] = defaultdict(dict)
    for row in published:
        if row.statement.kind not in kinds:
            continue
        by_statement[row.statement.pk].append(row)
        group = row.statement.translation_of_id or row.statement.pk
        groups[group][row.statement.language] = row.statement.pk
    entries = []
    for group, languages in groups.items():
        # The reader's language, else the original, else whichever translation went out.
        statement_id = languages.get(language) or (group if group in by_statement else next(iter(languages.values())))
        rows = by_statement[statement_id]  # oldest first
        entries.append(HubEntry(statement=rows[-1].statement, current=rows[-1], history=list(reversed(rows[:-1])), first_published_at=rows[0].published_at))
    entries.sort(key=lambda entry: (entry.published_at, entry.current.version.pk), reverse=True)
    return entries


def _link_corrections(entries: list[HubEntry]) -> None:
    by_group = {entry.group_id: entry for entry in entries}
    for entry in entries:
        corrects = entry.statement.corrects
        if entry.statement.kind != StatementKind.CORRECTION or corrects is None:
            continue
        target = by_group.get(corrects.translation_of_id or corrects.pk)
        entry.corrects = target
        entry.corrects_time = target.first_published_at if target else corrects.first_published_at
        if target is not None:
            target.corrected_by.append(entry)


def help_links(incident: Incident) -> list[dict]:
    document = incident.playbook_version.document if incident.playbook_version_id else {}
    links = []
    for resource in (document or {}).get("help_resources") or []:
        if not isinstance(resource, dict):
            continue
        title, url = str(resource.get("title") or "").strip(), str(resource.get("url") or "").strip()
        if title and SAFE_URL.match(url):
            links.append({"title": title, "url": url})
    return links


def build_incident_hub(page: HubPage, published: list[PublishedVersion], *, requested_language: str = "", accept_language: str = "") -> IncidentHub | None:
    """The page of ``page`` from its public versions; None when nothing of it is public."""
    if not published:
        return None
    languages = sorted({row.statement.language for row in published})
    default = _default_language(published)
    language = choose_language(languages, default, requested_language, accept_language)
    # Corrections reach the statement they correct, which may not be on this page's rows.
    statement_ids = {row.statement.corrects_id for row in published if row.statement.corrects_id}
    corrected = {statement.pk: statement for statement in Statement.unscoped.filter(pk__in=statement_ids)} if statement_ids else {}
    for row in published:
        if row.statement.corrects_id:
            row.statement.corrects = corrected.get(row.statement.corrects_id)
    updates = _entries(published, language, HUB_UPDATE_KINDS)
    _link_corrections(updates)
    faq = sorted(_entries(published, language, (StatementKind.FAQ,)), key=lambda entry: (entry.first_published_at, entry.group_id))
    newest_update = next((row for row in reversed(published) if row.statement.kind in HUB_UPDATE_KINDS), None)
    return IncidentHub(
        page=page, language=language, languages=languages, default_language=default, updates=updates, faq=faq,
        help_links=help_links(page.incident), published=published,
        status=newest_update.version.public_status if newest_update else PublicStatus.INVESTIGATING,
        created_at=published[0].published_at,
        original_updates=updates if language == default else _entries(published, default, HUB_UPDATE_KINDS),
    )


def organization_for_hub(slug: str) -> Organization | None:
    """The organisation behind a hub URL, or None — also when it has no hub page yet, so an
    organisation without a public page looks exactly like no organisation."""
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None or not HubPage.objects.for_organization(organization).exists():
        return None
    return organization


def hub_pages(organization: Organization, slug: str | None = None) -> list[HubPage]:
    pages = HubPage.objects.for_organization(organization).select_related("incident", "incident__playbook_version").order_by("-updated_at", "-pk")
    if slug is not None:
        pages = pages.filter(slug=slug)
    return list(pages)


def organization_hubs(organization: Organization, *, requested_language: str = "", accept_language: str = "", incident_slug: str | None = None) -> list[IncidentHub]:
    """The organisation's public incident pages: current ones first, then past, newest first."""
    pages = hub_pages(organization, incident_slug)
    published = published_on_hub(organization.pk, [page.incident_id for page in pages])
    by_incident: dict[int, list[PublishedVersion]] = defaultdict(list)
    for row in published:
        by_incident[row.statement.incident_id].append(row)
    hubs = []
    for page in pages:
        hub = build_incident_hub(page, by_incident.get(page.incident_id, []), requested_language=requested_language, accept_language=accept_language)
        if hub is not None:
            hubs.append(hub)
    hubs.sort(key=lambda hub: (not hub.is_current, -hub.updated_at.timestamp()))
    return hubs


def hub_state_token(organization_id: int) -> str:
    """Changes whenever anything public of the organisation's hub changes: a hub publication
    succeeding (status and time are set in one UPDATE, so this cannot see one without the
    other), a hub page being created or touched, or the severity of an incident with a hub
    page changing (the Statuspage JSON's ``impact``)."""
    publications = Publication.unscoped.filter(
        organization_id=organization_id, channel_kind=ChannelKind.HUB, status=PublicationStatus.SUCCEEDED
    ).aggregate(count=Count("id"), latest=Max("published_at"))
    # Two sums weighted by the incident id and by its square: one incident's severity changing
    # moves both; for changes of two incidents to cancel out in both their ids would have to
    # be equal. Cheap (one join on the pages' aggregate), unlike listing every page's severity.
    pages = HubPage.unscoped.filter(organization_id=organization_id).aggregate(
        count=Count("id"), latest=Max("updated_at"),
        severity=Sum(F("incident_id") * F("incident__severity")), severity_squared=Sum(F("incident_id") * F("incident_id") * F("incident__severity")),
    )
    if not pages["count"]:
        return "none"
    stamp = lambda value: f"{value.timestamp():.6f}" if value else "0"  # noqa: E731
    return (f"{organization_id}:{publications['count']}:{stamp(publications['latest'])}:{pages['count']}:{stamp(pages['latest'])}"
            f":{pages['severity']}:{pages['severity_squared']}")


def public_page_slugs(organization_id: int) -> frozenset[str]:
    """The slugs of the organisation's hub pages that have something public (what
    ``organization_hubs(…, incident_slug=…)`` finds): any other incident URL is a 404 the
    cache answers without asking the database."""
    public_incidents = Publication.unscoped.filter(
        organization_id=organization_id, channel_kind=ChannelKind.HUB, channel__kind=ChannelKind.HUB,
        status=PublicationStatus.SUCCEEDED, published_at__isnull=False, version__statement_id=F("statement_id"),
    ).exclude(statement__kind=StatementKind.REPLY_TEMPLATE).values("statement__incident_id")
    return frozenset(HubPage.unscoped.filter(organization_id=organization_id, incident_id__in=public_incidents).values_list("slug", flat=True))


def hub_changed(organization_id: int) -> None:
    """Call after the commit of anything that changes an organisation's hub (a hub
    publication succeeding): every process serves the new content within its revalidation
    interval (about a second) instead of after the shared state expires."""
    from responses import hub_cache

    slug = Organization.objects.filter(pk=organization_id).values_list("slug", flat=True).first()
    if slug:
        hub_cache.refresh_state(slug)


# --- Statuspage-compatible JSON -----------------------------------------------------------------
def statuspage_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def impact_of(hub: IncidentHub) -> str:
    return IMPACT_FOR_SEVERITY.get(hub.page.incident.severity, "none")


def statuspage_incident(hub: IncidentHub, organization: Organization) -> dict:
    incident_id = hub.page.slug
    updates = []
    monitoring_at = None
    # Statuspage lists an incident's updates newest first; every public version is one.
    for row in hub.published:
        if row.statement.kind in HUB_UPDATE_KINDS and row.version.public_status == PublicStatus.MONITORING and monitoring_at is None:
            monitoring_at = row.published_at
    for entry in hub.updates:
        for row in [entry.current, *entry.history]:
            body = row.version.body
            if row.version.headline:
                body = f"{row.version.headline}\n\n{body}"
            updates.append({
                "id": f"v{row.version.pk}", "status": row.version.public_status, "body": body, "incident_id": incident_id,
                "created_at": statuspage_time(row.published_at), "updated_at": statuspage_time(row.published_at),
                "display_at": statuspage_time(row.published_at), "affected_components": None, "deliver_notifications": True,
                "custom_tweet": None, "tweet_id": None,
            })
    updates.sort(key=lambda update: update["created_at"], reverse=True)
    latest = hub.latest
    return {
        "id": incident_id, "name": hub.title, "status": hub.status,
        "created_at": statuspage_time(hub.created_at), "updated_at": statuspage_time(hub.updated_at),
        "monitoring_at": statuspage_time(monitoring_at),
        "resolved_at": statuspage_time(latest.published_at) if latest and not hub.is_current else None,
        "impact": impact_of(hub), "shortlink": absolute_hub_url(organization.slug, hub.page.slug),
        "started_at": statuspage_time(hub.created_at), "page_id": organization.slug, "incident_updates": updates,
        "components": [],
    }


def statuspage_document(organization: Organization, hubs: list[IncidentHub], *, only_unresolved: bool, limit: int = 50) -> dict:
    updated_at = max((hub.updated_at for hub in hubs), default=None)
    unresolved = [hub for hub in hubs if hub.is_current]
    chosen = unresolved if only_unresolved else sorted(hubs, key=lambda hub: hub.created_at, reverse=True)[:limit]
    worst = max((impact_of(hub) for hub in unresolved), key=IMPACT_ORDER.index, default="none")
    document = {
        "page": {"id": organization.slug, "name": organization.name, "url": absolute_hub_url(organization.slug),
                 "time_zone": "Etc/UTC", "updated_at": statuspage_time(updated_at)},
        "incidents": [statuspage_incident(hub, organization) for hub in chosen],
    }
    if only_unresolved:
        document["components"] = []
        document["scheduled_maintenances"] = []
        document["status"] = {"indicator": worst, "description": INDICATOR_DESCRIPTION[worst]}
    return document


def absolute_hub_url(organization_slug: str, incident_slug: str = "") -> str:
    from responses.services import hub_url

    return hub_url(organization_slug, incident_slug)


# --- subscriptions ----------------------------------------------------------------------------
class SubscriptionRefused(Exception):
    """The address is not one we can mail (said to the reader, who typed it)."""


def _token_for(nonce: str) -> str:
    return salted_hmac("responses.hub.subscription", nonce, algorithm="sha256").hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def subscription_token(subscription: HubSubscription) -> str:
    return _token_for(subscription.token_nonce)


def subscription_for_token(organization: Organization, token: str) -> HubSubscription | None:
    if not TOKEN.fullmatch(token or ""):
        return None
    return HubSubscription.objects.for_organization(organization).filter(token_hash=_hash(token)).select_related("incident").first()


def normalize_email(email: str) -> str:
    email = (email or "").strip()
    if len(email) > 254 or any(ord(character) < 32 or ord(character) == 127 for character in email):
        raise SubscriptionRefused("That is not an e-mail address.")
    try:
        validate_email(email)
    except Exception:
        raise SubscriptionRefused("That is not an e-mail address.") from None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def is_language(value: str) -> bool:
    return bool(LANGUAGE.fullmatch(value))


def masked_email(email: str) -> str:
    """``alice@example.com`` → ``a***@example.com``: enough to tell rows apart in the audit
    trail, not enough to read who subscribed."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def _audit(subscription: HubSubscription, action: str, **after) -> None:
    # The audit entry keeps str(target), and a subscription's str() is its address: the entry
    # gets an unsaved copy that carries the masked one (same type and id).
    masked = HubSubscription(pk=subscription.pk, organization_id=subscription.organization_id, incident_id=subscription.incident_id,
                             email=masked_email(subscription.email))
    audit_record(action=action, actor=None, organization=subscription.organization, target=masked,
                 after={"email": masked.email, "incident_id": subscription.incident_id, **after})


def subscription_request(*, organization: Organization, email: str, language: str, incident: Incident | None = None) -> HubSubscription | None:
    """Start (or resume) a subscription and queue the mail of its confirmation link, after the
    commit (``tasks.send_hub_confirmation``: an SMTP outage never fails the reader's request).
    Says nothing to the caller about whether the address was already subscribed: a confirmed
    live subscription is left alone and gets no mail, so the response cannot differ."""
    from responses import tasks

    email = normalize_email(email)
    language = language or settings.LANGUAGE_CODE
    if not is_language(language):
        raise SubscriptionRefused("That is not a language we know.")
    with transaction.atomic():
        live = HubSubscription.objects.for_organization(organization).select_for_update().filter(
            incident=incident, email__iexact=email, unsubscribed_at__isnull=True
        ).first()
        if live is not None and live.confirmed_at is not None:
            return None
        if live is None:
            nonce = secrets.token_hex(16)
            try:
                with transaction.atomic():
                    live = HubSubscription.unscoped.create(
                        organization=organization, incident=incident, email=email, language=language,
                        token_nonce=nonce, token_hash=_hash(_token_for(nonce)),
                    )
            except IntegrityError:  # a concurrent request created it: that one mails
                return None
        HubSubscription.unscoped.filter(pk=live.pk).update(confirmation_sent_at=timezone.now(), language=language)
        live.organization = organization
        _audit(live, "hub_subscription.requested", language=language)
        subscription_id = live.pk
        # robust: a broker that is down is logged, not turned into the reader's error page.
        transaction.on_commit(lambda: tasks.send_hub_confirmation.delay(subscription_id), robust=True)
    return live


def subscription_confirm(*, subscription: HubSubscription) -> HubSubscription:
    with transaction.atomic():
        if HubSubscription.unscoped.filter(pk=subscription.pk, confirmed_at__isnull=True, unsubscribed_at__isnull=True).update(confirmed_at=timezone.now()):
            _audit(subscription, "hub_subscription.confirmed")
    subscription.refresh_from_db()
    return subscription


def subscription_cancel(*, subscription: HubSubscription) -> HubSubscription:
    with transaction.atomic():
        if HubSubscription.unscoped.filter(pk=subscription.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=timezone.now()):
            _audit(subscription, "hub_subscription.cancelled")
    subscription.refresh_from_db()
    return subscription


def confirm_url(subscription: HubSubscription) -> str:
    return f"{absolute_hub_url(subscription.organization.slug)}subscriptions/confirm/{subscription_token(subscription)}/"


def unsubscribe_url(subscription: HubSubscription) -> str:
    return f"{absolute_hub_url(subscription.organization.slug)}subscriptions/unsubscribe/{subscription_token(subscription)}/"


def _message(subscription: HubSubscription, *, subject: str, body: str, connection=None) -> mail.EmailMessage:
    link = unsubscribe_url(subscription)
    return mail.EmailMessage(
        subject=subject.replace("\n", " ").replace("\r", " ")[:200], body=body, to=[subscription.email], connection=connection,
        headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Auto-Submitted": "auto-generated"},
    )


def subscription_confirmation_send(*, subscription: HubSubscription) -> None:
    """Mail the confirmation link (called by ``tasks.send_hub_confirmation``, which skips
    subscriptions that are gone, confirmed or cancelled). SMTP errors propagate: the task
    retries."""
    body = render_to_string("hub/email/confirm.txt", {
        "organization": subscription.organization, "confirm_url": confirm_url(subscription), "unsubscribe_url": unsubscribe_url(subscription),
        "incident_page": getattr(subscription.incident, "hub_page", None) if subscription.incident_id else None,
    })
    _message(subscription, subject=f"Confirm your updates from {subscription.organization.name}", body=body).send(fail_silently=False)


def _recipients(publication: Publication) -> list[HubSubscription]:
    """Confirmed, live subscribers of the incident or the whole organisation who read this
    statement's language; the original also goes to readers of languages that have no
    translation of it meant for e-mail."""
    statement = publication.statement
    live = HubSubscription.objects.for_organization(publication.organization_id).filter(
        confirmed_at__isnull=False, unsubscribed_at__isnull=True
    ).filter(Q(incident__isnull=True) | Q(incident_id=statement.incident_id)).select_related("organization")
    if statement.translation_of_id is not None:
        return [subscription for subscription in live if subscription.language.lower() == statement.language.lower()]
    translated = {
        language.lower() for language, channels in Statement.objects.for_organization(statement.organization_id)
        .filter(translation_of=statement).values_list("language", "target_channels") if ChannelKind.EMAIL in (channels or [])
    }
    return [subscription for subscription in live
            if subscription.language.lower() == statement.language.lower() or subscription.language.lower() not in translated]


class MailingPaused(Exception):
    """Sending stopped short of the publication's lease running out, or some recipients'
    servers refused for now: the caller schedules a retry, which mails only who is left."""


# Stop this long before the lease ends, so the outcome is recorded by its holder.
LEASE_MARGIN = timedelta(seconds=30)


def email_subscribers(*, publication: Publication) -> int:
    """Mail a published update to the incident's confirmed hub subscribers; returns how many
    have it (counting those an earlier attempt of this publication reached, who are skipped).

    One message at a time over one SMTP connection, each delivery recorded as soon as its
    mail went and re-checked just before sending, so an attempt that stops half-way — an SMTP
    error (raised), a lease about to run out or a recipient refused for now (``MailingPaused``)
    — leaves a retry with exactly who is left, and nobody is mailed twice. A recipient refused
    for good (5xx) is logged and skipped."""
    statement = publication.statement
    if statement.kind == StatementKind.REPLY_TEMPLATE:
        return 0
    deliveries = HubEmailDelivery.objects.for_organization(publication.organization_id).filter(publication=publication)
    already = set(deliveries.values_list("subscription_id", flat=True))
    recipients = [subscription for subscription in _recipients(publication) if subscription.pk not in already]
    if not recipients:
        return len(already)
    version = publication.version
    incident = statement.incident
    page = HubPage.objects.for_organization(publication.organization_id).filter(incident=incident).first()
    link = absolute_hub_url(incident.organization.slug, page.slug if page else "")
    subject = f"{incident.organization.name}: {public_title(version)}"
    refused_for_now = 0
    with mail.get_connection() as connection:
        for subscription in recipients:
            if publication.lease_until is not None and timezone.now() >= publication.lease_until - LEASE_MARGIN:
                raise MailingPaused(f"Stopped before the lease ran out; {deliveries.count()} have it.")
            # Another worker may hold this publication now (ours ran out) and have mailed them.
            if deliveries.filter(subscription=subscription).exists():
                continue
            body = render_to_string("hub/email/update.txt", {
                "organization": incident.organization, "version": version, "statement": statement, "title": public_title(version),
                "published_at": publication.published_at or timezone.now(), "hub_link": link, "unsubscribe_url": unsubscribe_url(subscription),
            })
            try:
                _message(subscription, subject=subject, body=body, connection=connection).send(fail_silently=False)
            except smtplib.SMTPRecipientsRefused as refusal:
                codes = [code for code, _ in refusal.recipients.values()]
                if codes and all(code >= 500 for code in codes):
                    logger.warning("Hub subscription %s refused for good (%s); skipped", subscription.pk, codes)
                else:
                    refused_for_now += 1
                continue
            HubEmailDelivery.unscoped.bulk_create(
                [HubEmailDelivery(organization_id=publication.organization_id, publication=publication, subscription=subscription)], ignore_conflicts=True,
            )
    if refused_for_now:
        raise MailingPaused(f"{refused_for_now} recipients' servers refused for now; {deliveries.count()} have it.")
    return deliveries.count()
