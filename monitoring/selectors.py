"""Reads for monitoring, tenant-filtered, with their joins applied.

The inbox pages with a keyset cursor on (posted_at, id) — newest first — and never counts
the whole result: an organisation in a crisis has millions of mentions.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monitoring.models import IngestJob, Mention, MentionNote, MentionStatus, RejectedItem, Rumour, Sentiment, Source, Spike, SpikeStatus, Tag, VolumeBucket, VolumeRollup, Watch

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class FilterError(ValueError):
    """A filter value that cannot be understood; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


MAX_ID = 2**63 - 1  # the largest value a database id or counter column holds


def whole_number(value: str, field: str, *, maximum: int = MAX_ID) -> int:
    """Parse a request parameter as a non-negative integer (ASCII digits only: ``"²".isdigit()``
    is true but ``int("²")`` fails) or raise ``FilterError``."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise FilterError(field, "must be a whole number")
    number = int(value)
    if number > maximum:
        raise FilterError(field, "is out of range")
    return number


def plain_text(value: str, field: str, limit: int) -> str:
    """A free-text parameter: PostgreSQL refuses NUL characters in text, so refuse them here."""
    if "\x00" in value:
        raise FilterError(field, "must not contain NUL characters")
    return value.strip()[:limit]


@dataclass
class InboxFilters:
    watch: int | None = None
    source: int | None = None
    sentiment: str = ""
    language: str = ""
    min_reach: int | None = None
    status: str = ""
    assignee: str = ""  # a user id, "me" or "none"
    tag: str = ""
    incident: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""

    @classmethod
    def from_query(cls, params) -> InboxFilters:
        """Build from request parameters; raises ``FilterError`` for a value that makes no sense."""

        def integer(name: str) -> int | None:
            value = (params.get(name) or "").strip()
            return whole_number(value, name) if value else None

        def moment(name: str) -> datetime | None:
            value = (params.get(name) or "").strip()
            if not value:
                return None
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is None:
                raise FilterError(name, "must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
            if not 1900 <= parsed.year <= 9000:
                raise FilterError(name, "is out of range")
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.get_current_timezone())

        sentiment = (params.get("sentiment") or "").strip()
        if sentiment and sentiment not in Sentiment.values:
            raise FilterError("sentiment", f"must be one of {', '.join(Sentiment.values)}")
        status = (params.get("status") or "").strip()
        if status and status not in MentionStatus.values and status != "open":
            raise FilterError("status", f"must be one of open, {', '.join(MentionStatus.values)}")
        assignee = (params.get("assignee") or "").strip()
        if assignee and assignee not in ("me", "none"):
            try:
                whole_number(assignee, "assignee")
            except FilterError:
                raise FilterError("assignee", "must be me, none or a user id") from None
        return cls(
            watch=integer("watch"),
            source=integer("source"),
            sentiment=sentiment,
            language=plain_text(params.get("language") or "", "language", 8).lower(),
            min_reach=integer("min_reach"),
            status=status,
            assignee=assignee,
            tag=plain_text(params.get("tag") or "", "tag", 40).lower(),
            incident=integer("incident"),
            since=moment("since"),
            until=moment("until"),
            q=plain_text(params.get("q") or "", "q", 200),
        )

    def as_query(self) -> dict[str, str]:
        """The active filters as URL parameters (to keep them across pages and live refreshes)."""
        result = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value not in (None, ""):
                result[field.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return result


def encode_cursor(mention: Mention) -> str:
    return base64.urlsafe_b64encode(f"{mention.posted_at.isoformat()}|{mention.pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, mention_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed, int(mention_id)
    except (ValueError, UnicodeDecodeError):
        raise FilterError("cursor", "is not a cursor this inbox gave out") from None


def _text_search(queryset: QuerySet, text: str) -> QuerySet:
    if connection.vendor == "postgresql":
        # Matches the expression index created in migration 0002, so search reads an index.
        return queryset.filter(
            RawSQL("to_tsvector('simple'::regconfig, text) @@ websearch_to_tsquery('simple'::regconfig, %s)", [text], output_field=BooleanField())
        )
    return queryset.filter(text__icontains=text)


def inbox_mentions(*, organization_id: int, filters: InboxFilters, user_id: int | None = None) -> QuerySet:
    """Every mention the filters select, newest first, with what a row shows joined in.

    The result is ordered by ``feed_posted_at`` and ``feed_id`` — the mention's own
    ``posted_at`` and id, or, with a watch filter, the same values as copied onto the watch's
    matches — so that a watch's mentions are read newest first from ``mention_match_watch``
    instead of probing every mention of the organisation for a rare watch."""
    queryset = Mention.objects.for_organization(organization_id).select_related("source", "assignee").prefetch_related("tags", "watches")
    if filters.watch is not None:
        # One match per (mention, watch): the join never repeats a mention.
        queryset = queryset.filter(matches__watch_id=filters.watch).annotate(
            feed_posted_at=F("matches__posted_at"), feed_id=F("matches__mention_id")
        )
    else:
        queryset = queryset.annotate(feed_posted_at=F("posted_at"), feed_id=F("id"))
    if filters.source is not None:
        queryset = queryset.filter(source_id=filters.source)
    if filters.sentiment:
        queryset = queryset.filter(sentiment_label=filters.sentiment)
    if filters.language:
        queryset = queryset.filter(language=filters.language)
    if filters.min_reach is not None:
        queryset = queryset.filter(reach__gte=filters.min_reach)
    if filters.status == "open":
        queryset = queryset.filter(status__in=[MentionStatus.NEW, MentionStatus.ASSIGNED, MentionStatus.NEEDS_REPLY])
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.assignee == "me":
        queryset = queryset.filter(assignee_id=user_id)
    elif filters.assignee == "none":
        queryset = queryset.filter(assignee__isnull=True)
    elif filters.assignee:
        queryset = queryset.filter(assignee_id=int(filters.assignee))
    if filters.tag:
        # By id, not by joining on the name: the planner knows how common each tag id is and
        # picks the cheaper side (walk the tag's mentions, or walk the inbox and probe).
        tag_id = Tag.objects.for_organization(organization_id).filter(name=filters.tag).values_list("pk", flat=True).first()
        if tag_id is None:
            return queryset.none()
        queryset = queryset.filter(Exists(Mention.tags.through.objects.filter(mention_id=OuterRef("pk"), tag_id=tag_id)))
    if filters.incident is not None:
        queryset = queryset.filter(incident_id=filters.incident)
    if filters.since:
        queryset = queryset.filter(posted_at__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(posted_at__lt=filters.until)
    if filters.q:
        queryset = _text_search(queryset, filters.q)
    return queryset.order_by("-feed_posted_at", "-feed_id")


def inbox_page(*, organization_id: int, filters: InboxFilters, user_id: int | None = None, cursor: str = "", limit: int = PAGE_SIZE) -> tuple[list[Mention], str | None]:
    """One page and the cursor of the next one (None at the end). Reads ``limit + 1`` rows to
    know whether there is more — never a count."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    queryset = inbox_mentions(organization_id=organization_id, filters=filters, user_id=user_id).defer("raw")
    if cursor:
        posted_at, mention_id = decode_cursor(cursor)
        queryset = queryset.filter(Q(feed_posted_at__lt=posted_at) | Q(feed_posted_at=posted_at, feed_id__lt=mention_id))
    rows = list(queryset[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def mentions_by_ids(*, organization_id: int, filters: InboxFilters, ids: list[int], user_id: int | None = None) -> list[Mention]:
    """The given mentions that pass the filters (live updates announce ids; each screen
    fetches the ones its filters show)."""
    return list(inbox_mentions(organization_id=organization_id, filters=filters, user_id=user_id).defer("raw").filter(pk__in=ids[:MAX_PAGE_SIZE]))


def mention_of(*, organization_id: int, mention_id: int) -> Mention | None:
    return (
        Mention.objects.for_organization(organization_id)
        .select_related("source", "assignee", "incident")
        .prefetch_related("tags", "watches", "rumours")
        .filter(pk=mention_id)
        .first()
    )


def mention_notes(*, mention: Mention) -> QuerySet:
    return MentionNote.objects.for_organization(mention.organization_id).filter(mention=mention).select_related("author")


def sources_of(*, organization_id: int) -> QuerySet:
    return Source.objects.for_organization(organization_id).order_by("kind", "name")


def source_of(*, organization_id: int, source_id: int) -> Source | None:
    return Source.objects.for_organization(organization_id).filter(pk=source_id).first()


def watches_of(*, organization_id: int) -> QuerySet:
    return Watch.objects.for_organization(organization_id).order_by("-is_active", "name")


def watch_of(*, organization_id: int, watch_id: int) -> Watch | None:
    return Watch.objects.for_organization(organization_id).filter(pk=watch_id).first()


def tags_of(*, organization_id: int) -> QuerySet:
    return Tag.objects.for_organization(organization_id).order_by("name")


def jobs_of(*, organization_id: int) -> QuerySet:
    return IngestJob.objects.for_organization(organization_id).defer("content").select_related("created_by")


def job_of(*, organization_id: int, job_id: int) -> IngestJob | None:
    return IngestJob.objects.for_organization(organization_id).defer("content").filter(pk=job_id).first()


def rejected_items(*, organization_id: int, job_id: int | None = None, source_id: int | None = None) -> QuerySet:
    queryset = RejectedItem.objects.for_organization(organization_id).select_related("source")
    if job_id is not None:
        queryset = queryset.filter(job_id=job_id).order_by("line", "id")
    if source_id is not None:
        queryset = queryset.filter(source_id=source_id)
    return queryset


def rumours_of(*, organization_id: int) -> QuerySet:
    return Rumour.objects.for_organization(organization_id).select_related("incident").annotate(carriers=Count("mentions"))


def rumour_of(*, organization_id: int, rumour_id: int) -> Rumour | None:
    return rumours_of(organization_id=organization_id).filter(pk=rumour_id).first()


# The finest resolution a range is read at: minutes for the live hours, then 5 minutes, then hours.
MINUTES_BY_RESOLUTION = {1: 6 * 60, 5: 7 * 24 * 60, 60: 2 * 365 * 24 * 60}


def volume_resolution(minutes: int) -> int:
    return next(resolution for resolution, longest in MINUTES_BY_RESOLUTION.items() if minutes <= longest)


def volume_series(
    *, organization_id: int, watch_id: int | None = None, minutes: int = 60, resolution: int | None = None, now: datetime | None = None
) -> list[dict]:
    """Mentions per bucket (``minute`` is the bucket's start) over the last ``minutes``, at
    ``resolution`` minutes a bucket (default: the finest that suits the range)."""
    now = now or timezone.now()
    resolution = resolution or volume_resolution(minutes)
    start = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    columns = ("mentions", "positive", "neutral", "negative", "sentiment_sum", "reach_sum")
    if resolution == 1:
        queryset = VolumeBucket.objects.for_organization(organization_id).filter(minute__gte=start).order_by("minute").values("minute", *columns)
    else:
        queryset = (
            VolumeRollup.objects.for_organization(organization_id).filter(resolution=resolution, start__gte=start).order_by("start")
            .values(*columns, minute=F("start"))
        )
    queryset = queryset.filter(watch_id=watch_id) if watch_id is not None else queryset.filter(watch__isnull=True)
    return [{**row, "resolution": resolution, "average_sentiment": row["sentiment_sum"] / row["mentions"] if row["mentions"] else 0.0} for row in queryset]


def authors(*, organization_id: int, incident_id: int | None = None, since: datetime | None = None, order: str = "reach", limit: int = 20) -> list[dict]:
    """Top authors — by reach (influencers) or by negative mentions (detractors) — for one
    incident or a time window (default: the last 7 days), without scanning all of history."""
    queryset = Mention.objects.for_organization(organization_id).exclude(author_handle="")
    if incident_id is not None:
        queryset = queryset.filter(incident_id=incident_id)
    else:
        queryset = queryset.filter(posted_at__gte=since or timezone.now() - timedelta(days=7))
    rows = queryset.values("author_handle").annotate(
        mentions=Count("id"),
        negative=Count("id", filter=Q(sentiment_label=Sentiment.NEGATIVE)),
        reach=Sum("reach"),
        followers=Max("author_followers"),
        name=Max("author_name"),
        last_posted_at=Max("posted_at"),
    )
    ordering = ("-negative", "-reach") if order == "negative" else ("-reach", "-mentions")
    return list(rows.order_by(*ordering, "author_handle")[: max(1, min(limit, 100))])


def author_history(*, organization_id: int, author_handle: str) -> dict:
    """One author across incidents: how often, how negative, which incidents."""
    queryset = Mention.objects.for_organization(organization_id).filter(author_handle=author_handle)
    totals = queryset.aggregate(mentions=Count("id"), negative=Count("id", filter=Q(sentiment_label=Sentiment.NEGATIVE)), reach=Sum("reach"), followers=Max("author_followers"))
    incidents = list(
        queryset.filter(incident__isnull=False).values("incident_id", "incident__title").annotate(mentions=Count("id")).order_by("-mentions")[:50]
    )
    recent = list(queryset.select_related("source").order_by("-posted_at", "-id")[:20])
    return {"author_handle": author_handle, **totals, "incidents": incidents, "recent": recent}


def spikes_of(*, organization_id: int, status: str = "", watch_id: int | None = None) -> QuerySet:
    """Newest detections first, with their watch."""
    queryset = Spike.objects.for_organization(organization_id).select_related("watch__organization", "suggested_playbook")
    if status:
        queryset = queryset.filter(status=status)
    if watch_id is not None:
        queryset = queryset.filter(watch_id=watch_id)
    return queryset.order_by("-detected_at", "-id")


def spike_of(*, organization_id: int, spike_id: int) -> Spike | None:
    return Spike.objects.for_organization(organization_id).select_related("watch__organization", "suggested_playbook").filter(pk=spike_id).first()


def organizations_with_open_spikes() -> list[int]:
    """Across tenants on purpose: the beat task that closes spikes on silent watches."""
    return list(Spike.unscoped.filter(status=SpikeStatus.OPEN).values_list("organization_id", flat=True).distinct())
