"""From spike to incident: the alert a spike raises, the playbook it suggests, and the one
click that opens an incident from it (or attaches it to one that is already running).

A spike is recorded by ``monitoring.spike_services``; this module decides what people hear
of it. The alert goes to every screen of the organisation's war room (the ``spike.*``
events) and to the members of the on-call roles (``Organization.on_call_roles``) in the app,
by e-mail and in the team's Slack/Teams channel — once per surge: a spike on a second watch
within ``ALERT_GROUP`` of an alert still waiting for a decision is shown, not notified again,
and a watch whose alerts are snoozed is shown, not notified at all.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from crisiscenter.audit import audit_record
from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import Membership, Role, User
from monitoring import queries
from monitoring.models import Mention, SourceKind, Spike, SpikeStatus, VolumeBucket, Watch
from playbooks import selectors as playbook_selectors
from playbooks.incident_services import incident_log, incident_open
from playbooks.models import Incident, IncidentStatus, Platform, Playbook, PlaybookVersion, TimelineKind
from playbooks.notifications import notify

logger = logging.getLogger(__name__)

# A playbook's watch queries describe a spike when they match at least this share of its posts.
QUERY_SHARE = 0.2
ALERT_GROUP = timedelta(minutes=10)
SNOOZE_MINUTES = (15, 60, 240)
# A closed spike nobody decided on stays an alert this long after it ended.
ALERT_AFTER_END = timedelta(hours=1)

_PLATFORM_OF_SOURCE = {
    SourceKind.X: Platform.X, SourceKind.MASTODON: Platform.MASTODON, SourceKind.BLUESKY: Platform.BLUESKY,
    SourceKind.REDDIT: Platform.REDDIT, SourceKind.RSS: Platform.NEWS,
}
_PLATFORM_OF_HOST = {
    "twitter.com": Platform.X, "x.com": Platform.X, "bsky.app": Platform.BLUESKY, "reddit.com": Platform.REDDIT,
    "facebook.com": Platform.FACEBOOK, "instagram.com": Platform.INSTAGRAM, "tiktok.com": Platform.TIKTOK,
}


def needs_action(spike: Spike, now=None) -> bool:
    """Still waiting for someone to decide: no incident, not dismissed, not snoozed, and open
    or only recently over."""
    now = now or timezone.now()
    if spike.incident_id is not None or spike.dismissed_at is not None:
        return False
    if spike.snoozed_until is not None and spike.snoozed_until > now:
        return False
    return spike.status == SpikeStatus.OPEN or (spike.ended_at is not None and now - spike.ended_at <= ALERT_AFTER_END)


# --- The playbook a spike suggests ----------------------------------------------------------


def _peak_per_minute(spike: Spike) -> int:
    buckets = VolumeBucket.objects.for_organization(spike.organization_id).filter(watch_id=spike.watch_id, minute__gte=spike.started_at)
    return buckets.aggregate(peak=Max("mentions"))["peak"] or 0


def _query_share(watch_queries: list[str], texts: list[str]) -> float:
    parsed = []
    for text in watch_queries:
        try:
            parsed.append(queries.parse(text))
        except queries.QueryError:
            continue  # a playbook saved before the query language got stricter: skip that query
    if not parsed or not texts:
        return 0.0
    return sum(1 for text in texts if any(query.matches(text) for query in parsed)) / len(texts)


def _latest_versions(organization) -> list[tuple[Playbook, dict]]:
    """The organisation's active playbooks with their current documents, in two queries."""
    playbooks = {playbook.pk: playbook for playbook in playbook_selectors.playbooks_of(organization=organization)}
    versions = PlaybookVersion.objects.for_organization(organization).filter(playbook_id__in=list(playbooks)).order_by("playbook_id", "-number")
    latest: dict[int, dict] = {}
    for playbook_id, number, document in versions.values_list("playbook_id", "number", "document"):
        latest.setdefault(playbook_id, document)
    return [(playbooks[playbook_id], document) for playbook_id, document in latest.items()]


def matching_playbook(*, spike: Spike, texts: list[str]) -> tuple[Playbook | None, dict]:
    """The organisation's playbook whose triggers this spike meets — every trigger it sets —
    preferring the one whose watch queries describe most of the posts, then the one with more
    triggers met, then the more severe. Returns it with the figures it was judged on."""
    negative_share = ((spike.explanation or {}).get("sentiment") or {}).get("during", {}).get("negative_share") or 0.0
    figures = {"peak_per_minute": _peak_per_minute(spike), "magnitude": round(spike.magnitude, 2), "negative_share": negative_share}
    best, best_score, best_share = None, None, 0.0
    for playbook, document in _latest_versions(spike.organization):
        triggers = document.get("triggers") or {}
        numeric = [
            figures[figure] >= triggers[trigger]
            for trigger, figure in (("min_mentions_per_minute", "peak_per_minute"), ("ratio_to_baseline", "magnitude"), ("min_negative_share", "negative_share"))
            if trigger in triggers
        ]
        if not all(numeric) or not (numeric or triggers.get("watch_queries")):
            continue  # a plan with no triggers is never suggested; one unmet trigger rules it out
        share = 0.0
        if triggers.get("watch_queries"):
            share = _query_share(triggers["watch_queries"], texts)  # last: the costly one
            if share < QUERY_SHARE:
                continue
        met = len(numeric) + bool(triggers.get("watch_queries"))
        score = (share, met, -(document.get("default_severity") or 3), -playbook.pk)
        if best_score is None or score > best_score:
            best, best_score, best_share = playbook, score, share
    if best is not None:
        figures["query_share"] = round(best_share, 3)
    return best, figures


def suggest(*, spike: Spike, texts: list[str]) -> None:
    """Record the suggested playbook and severity (saved by the caller)."""
    playbook, _figures = matching_playbook(spike=spike, texts=texts)
    spike.suggested_playbook = playbook
    version = playbook_selectors.playbook_version(playbook=playbook) if playbook else None
    spike.suggested_severity = version.document.get("default_severity") if version else None


# --- The alert -------------------------------------------------------------------------------


def alert_text(spike: Spike) -> str:
    terms = ", ".join(term["term"] for term in (spike.explanation or {}).get("terms", [])[:3])
    return (
        f"Spike on “{spike.watch.name}”: {spike.window_count} mentions in {spike.window_minutes} min, "
        f"{spike.magnitude:.1f}× the usual" + (f" — {terms}" if terms else "")
    )


def on_call_members(organization) -> list[User]:
    roles = [role for role in (organization.on_call_roles or []) if role in Role.values]
    memberships = Membership.objects.for_organization(organization).filter(role__in=roles).select_related("user")
    return [membership.user for membership in memberships]


def raise_alert(spike: Spike) -> None:
    """A spike just opened (call inside the detector's transaction): open the incident when the
    suggested playbook asks for that; otherwise notify the on-call roles, unless the watch's
    alerts are snoozed or this surge was notified a moment ago (the spike is on every screen
    either way). ``alerted_at`` records that people were notified."""
    if _auto_open(spike):
        return
    now = timezone.now()
    if spike.watch.alerts_snoozed_until is not None and spike.watch.alerts_snoozed_until > now:
        return
    recent = [
        other for other in Spike.objects.for_organization(spike.organization_id)
        .filter(alerted_at__gte=now - ALERT_GROUP, incident__isnull=True, dismissed_at__isnull=True).exclude(pk=spike.pk)
        if needs_action(other, now)
    ]
    if recent:
        return  # the same surge seen by another watch: on the screens, not in everyone's pocket again
    spike.alerted_at = now
    spike.save(update_fields=["alerted_at"])
    notify(organization=spike.organization, recipients=on_call_members(spike.organization), kind="spike", text=alert_text(spike), dedupe_key=f"spike:{spike.pk}")


def _auto_open(spike: Spike) -> bool:
    """Open (or attach to) the incident of a playbook that asks for it. A failure here must not
    cost the spike: it is logged and the alert goes out as usual instead."""
    playbook = spike.suggested_playbook
    if playbook is None:
        return False
    version = playbook_selectors.playbook_version(playbook=playbook)
    if not (version and (version.document.get("triggers") or {}).get("open_automatically")):
        return False
    try:
        with transaction.atomic():
            running = _open_incidents(spike.organization_id).select_for_update().filter(playbook=playbook).first()
            if running is not None:
                _link(spike, running, actor=None, how="attached automatically (an incident of the same playbook is running)")
            else:
                _open(spike, playbook=playbook, severity=None, title="", actor_membership=None)
    except ServiceError:
        logger.exception("Could not open the incident of playbook %s for spike %s automatically", playbook.pk, spike.pk)
        spike.incident, spike.handled_by = None, None  # what the rolled-back savepoint had set
        return False
    return True


# --- Decisions on an alert -------------------------------------------------------------------


def _open_incidents(organization_id: int):
    return Incident.objects.for_organization(organization_id).exclude(status__in=[IncidentStatus.RESOLVED, IncidentStatus.CLOSED])


def _require_responder(spike: Spike, actor_membership: Membership) -> None:
    if actor_membership is None or actor_membership.organization_id != spike.organization_id:
        raise NotAllowed()
    if not actor_membership.has_role(Role.RESPONDER):
        raise NotAllowed("Viewers can watch the war room; acting on an alert needs the responder role or higher.")


def _locked(spike: Spike) -> Spike:
    locked = Spike.objects.for_organization(spike.organization_id).select_for_update(of=("self",)).select_related("watch", "organization").get(pk=spike.pk)
    if locked.incident_id is not None:
        raise Conflict("This spike is already part of an incident.", code="spike_has_incident", details={"incident_id": locked.incident_id})
    return locked


def _platform(post: dict) -> str:
    platform = _PLATFORM_OF_SOURCE.get(post.get("source"))
    if platform is None:
        host = (urlsplit(post.get("url") or "").hostname or "").lower().removeprefix("www.").removeprefix("mobile.")
        platform = _PLATFORM_OF_HOST.get(host, Platform.OTHER)
    return platform


def _http_url(url: str) -> str:
    """The link, if it is one the incident may show (the same check incident_open makes)."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return ""
    return url if len(url) <= 500 else ""


def _summary(spike: Spike) -> str:
    explanation = spike.explanation or {}
    lines = [
        f"Spike on the watch “{spike.watch.name}” from {spike.started_at:%Y-%m-%d %H:%M} UTC: {spike.peak_count} mentions in "
        f"{spike.window_minutes} minutes at the peak, {spike.magnitude:.1f}× the usual {spike.expected:.0f}."
    ]
    if explanation.get("terms"):
        lines.append("Surging terms: " + ", ".join(term["term"] for term in explanation["terms"][:5]) + ".")
    during = (explanation.get("sentiment") or {}).get("during") or {}
    if during.get("negative_share") is not None:
        lines.append(f"{during['negative_share']:.0%} of the posts are negative.")
    return " ".join(lines)


def _log_text(spike: Spike) -> str:
    return f"Spike on “{spike.watch.name}”: {spike.peak_count} mentions in {spike.window_minutes} min, {spike.magnitude:.1f}× the usual"


def _link(spike: Spike, incident: Incident, *, actor: User | None, how: str) -> None:
    """Tie the spike to the incident: its first posts join the incident, the timeline says so."""
    spike.incident, spike.handled_by, spike.updated_at = incident, actor, timezone.now()
    spike.save(update_fields=["incident", "handled_by", "updated_at"])
    first_posts = (spike.explanation or {}).get("first_posts", [])
    Mention.objects.for_organization(spike.organization_id).filter(pk__in=[post["id"] for post in first_posts], incident__isnull=True).update(incident=incident)
    incident_log(
        incident, kind=TimelineKind.SPIKE, text=f"{_log_text(spike)} — {how}", actor=actor, occurred_at=spike.detected_at,
        data={"spike_id": spike.pk, "watch_id": spike.watch_id, "peak_count": spike.peak_count, "magnitude": round(spike.magnitude, 2),
              "terms": [term["term"] for term in (spike.explanation or {}).get("terms", [])[:5]], "first_post_ids": [post["id"] for post in first_posts]},
    )
    audit_record(action="spike.linked", actor=actor, organization=spike.organization, target=spike, after={"incident_id": incident.pk, "how": how})
    announce(spike)


def _open(spike: Spike, *, playbook: Playbook | None, severity: int | None, title: str, actor_membership: Membership | None) -> Incident:
    first = ((spike.explanation or {}).get("first_posts") or [{}])[0]
    terms = [term["term"] for term in (spike.explanation or {}).get("terms", [])[:3]]
    incident = incident_open(
        organization=spike.organization,
        actor_membership=actor_membership,
        title=title.strip() or f"Spike on {spike.watch.name}" + (f": {', '.join(terms)}" if terms else ""),
        playbook=playbook,
        severity=(severity or spike.suggested_severity) if playbook == spike.suggested_playbook else severity,
        origin_platform=_platform(first),
        origin_url=_http_url(first.get("url", "")),
        what_happened=_summary(spike),
        detected_at=spike.detected_at,
    )
    _link(spike, incident, actor=actor_membership.user if actor_membership else None,
          how="incident opened from it" if actor_membership else "incident opened automatically, as the playbook asks")
    return incident


def spike_open_incident(*, spike: Spike, actor_membership: Membership, playbook_id: int | None = None, severity: int | None = None, title: str = "") -> Incident:
    """The one click: an incident from the suggested playbook (or the one chosen), severity
    from that playbook unless given, the origin platform and first posts from the spike."""
    _require_responder(spike, actor_membership)
    if severity is not None and severity not in (1, 2, 3, 4):
        raise ServiceError("Severity runs from 1 (most severe) to 4.", field="severity")
    with transaction.atomic():
        locked = _locked(spike)
        playbook = locked.suggested_playbook
        if playbook_id is not None:
            playbook = playbook_selectors.playbook_of(organization=locked.organization, playbook_id=playbook_id)
            if playbook is None:
                raise ServiceError("No such playbook in this organisation.", field="playbook_id", code="unknown_playbook")
        return _open(locked, playbook=playbook, severity=severity, title=title, actor_membership=actor_membership)


def spike_attach(*, spike: Spike, actor_membership: Membership, incident_id: int) -> Spike:
    """Add the spike to an incident that is already being handled."""
    _require_responder(spike, actor_membership)
    with transaction.atomic():
        locked = _locked(spike)
        incident = _open_incidents(spike.organization_id).select_for_update().filter(pk=incident_id).first()
        if incident is None:
            raise ServiceError("Choose one of the organisation's open incidents.", field="incident_id", code="unknown_incident")
        _link(locked, incident, actor=actor_membership.user, how=f"attached by {actor_membership.user}")
    return locked


def spike_snooze(*, spike: Spike, actor_membership: Membership, minutes: int) -> Spike:
    """Hide this alert and keep the watch's next spikes from notifying anyone for a while
    (they are still detected and shown)."""
    _require_responder(spike, actor_membership)
    if minutes not in SNOOZE_MINUTES:
        raise ServiceError(f"Snooze for {', '.join(map(str, SNOOZE_MINUTES))} minutes.", field="minutes")
    until = timezone.now() + timedelta(minutes=minutes)
    with transaction.atomic():
        locked = _locked(spike)
        locked.snoozed_until, locked.handled_by, locked.updated_at = until, actor_membership.user, timezone.now()
        locked.save(update_fields=["snoozed_until", "handled_by", "updated_at"])
        watches = Watch.objects.for_organization(spike.organization_id).filter(pk=locked.watch_id)
        watches.filter(Q(alerts_snoozed_until__isnull=True) | Q(alerts_snoozed_until__lt=until)).update(alerts_snoozed_until=until)  # a longer snooze stands
        audit_record(action="spike.snoozed", actor=actor_membership.user, organization=locked.organization, target=locked, after={"minutes": minutes, "until": until.isoformat()})
        announce(locked)
    return locked


def spike_dismiss(*, spike: Spike, actor_membership: Membership) -> Spike:
    """Not a crisis: the alert goes away for everyone (the spike stays on the chart)."""
    _require_responder(spike, actor_membership)
    with transaction.atomic():
        locked = _locked(spike)
        if locked.dismissed_at is not None:
            return locked
        locked.dismissed_at, locked.handled_by, locked.updated_at = timezone.now(), actor_membership.user, timezone.now()
        locked.save(update_fields=["dismissed_at", "handled_by", "updated_at"])
        audit_record(action="spike.dismissed", actor=actor_membership.user, organization=locked.organization, target=locked)
        announce(locked)
    return locked


def on_spike_change(spike: Spike, kind: str) -> None:
    """The detector changed a spike (inside its transaction): alert on a new one; an incident
    it belongs to hears when it subsides."""
    if kind == "opened":
        raise_alert(spike)
    elif kind == "closed" and spike.incident_id is not None:
        minutes = round((spike.ended_at - spike.started_at).total_seconds() / 60)
        incident_log(spike.incident, kind=TimelineKind.SPIKE, text=f"Spike on “{spike.watch.name}” subsided after {minutes} min (peak {spike.peak_count} mentions in {spike.window_minutes} min)",
                     occurred_at=spike.ended_at, data={"spike_id": spike.pk, "ended_at": spike.ended_at.isoformat()})


def announce(spike: Spike) -> None:
    from monitoring.spike_services import announce_spike

    announce_spike(spike, "spike.updated")
