"""Monitoring: where mentions come from (sources), what we listen for (watches), the
mentions themselves with their triage state, and the per-minute series the war room reads.

Mentions are never deleted; their text is untrusted input and is only ever rendered escaped.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crisiscenter import crypto
from crisiscenter.models import AppendOnlyModel, AppendOnlyQuerySet
from crisiscenter.tenancy import OrganizationOwned, OrganizationScopedManager


class SourceKind(models.TextChoices):
    X = "x", "X (Twitter)"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    REDDIT = "reddit", "Reddit"
    RSS = "rss", "RSS / Atom news feeds"
    WEBHOOK = "webhook", "Webhook"
    FILE = "file", "File import"
    DRILL = "drill", "Drill replay"


# Sources the beat schedule polls; the others receive mentions (webhook) or jobs (file, drill).
POLLED_KINDS = frozenset({SourceKind.X, SourceKind.MASTODON, SourceKind.BLUESKY, SourceKind.REDDIT, SourceKind.RSS})


class Source(OrganizationOwned):
    """One feed of mentions with its own credentials (encrypted), interval, cursor and health."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    is_enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True)
    poll_interval_seconds = models.PositiveIntegerField(default=120)
    # Saved in the same transaction as the mentions it covers, never ahead of them.
    cursor = models.JSONField(default=dict, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # A poll claims the source until then, so two workers never poll it at once.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Reads used in the current calendar month against the plan's cap (X bills per post read).
    quota_period = models.CharField(max_length=7, blank=True)  # "2026-11"
    quota_used = models.PositiveBigIntegerField(default=0)
    quota_cap = models.PositiveBigIntegerField(null=True, blank=True)
    rate_limit = models.JSONField(default=dict, blank=True)
    mentions_stored = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="source_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name

    def is_polled(self) -> bool:
        return self.kind in POLLED_KINDS

    def credentials(self) -> dict:
        """The decrypted credentials (never logged, never sent to the browser)."""
        import json

        if not self.credentials_encrypted:
            return {}
        return json.loads(crypto.decrypt(self.credentials_encrypted))

    def health(self) -> str:
        if not self.is_enabled:
            return "disabled"
        if self.consecutive_failures:
            return "failing"
        if self.last_success_at is None:
            return "waiting" if self.is_polled() else "ready"
        return "healthy"

    def quota_fraction(self) -> float | None:
        if not self.quota_cap:
            return None
        return min(1.0, self.quota_used / self.quota_cap)


class SpikeSensitivity(models.TextChoices):
    """How eager spike detection is on a watch (``monitoring.spikes.Sensitivity.for_level``)."""

    HIGH = "high", "High (a small brand: fewer mentions make a crisis)"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low (a noisy watch)"


class Watch(OrganizationOwned):
    """A watch query in our syntax (see monitoring.queries), optionally for one language."""

    name = models.CharField(max_length=120)
    query = models.CharField(max_length=512)
    language = models.CharField(max_length=8, blank=True)
    is_active = models.BooleanField(default=True)
    spike_sensitivity = models.CharField(max_length=8, choices=SpikeSensitivity.choices, default=SpikeSensitivity.NORMAL)
    # Spikes on this watch are still detected and shown while snoozed, but nobody is notified.
    alerts_snoozed_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="watch_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name


class MentionStatus(models.TextChoices):
    NEW = "new", "New"
    ASSIGNED = "assigned", "Assigned"
    NEEDS_REPLY = "needs_reply", "Needs reply"
    REPLIED = "replied", "Replied"
    NO_ACTION = "no_action", "No action"
    ESCALATED = "escalated", "Escalated"


class Sentiment(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class SentimentMethod(models.TextChoices):
    VADER = "vader", "VADER (English)"
    SYMBOLS = "symbols", "Emoji, emoticons and English words only"


class Tag(OrganizationOwned):
    name = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="tag_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name


class Mention(OrganizationOwned):
    """One post from one network, normalised. Stored once per (organisation, source, external id).

    Every index is paid for on each of the thousands of inserts a second of a crisis, so the
    foreign keys carry none of their own: the composite indexes below start with the same
    column and serve the same lookups (the unique constraint for the source, ``mention_inbox``
    for the organisation, the partial ones for assignee and incident)."""

    organization = models.ForeignKey("crisiscenter.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="mentions", db_index=False)
    external_id = models.CharField(max_length=100)
    url = models.CharField(max_length=500, blank=True)
    author_handle = models.CharField(max_length=100, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    author_followers = models.PositiveBigIntegerField(default=0)
    author_verified = models.BooleanField(default=False)
    text = models.TextField()
    language = models.CharField(max_length=8, blank=True)
    posted_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    likes = models.PositiveBigIntegerField(default=0)
    reposts = models.PositiveBigIntegerField(default=0)
    replies = models.PositiveBigIntegerField(default=0)
    reply_to_id = models.CharField(max_length=100, blank=True)
    conversation_id = models.CharField(max_length=100, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    sentiment = models.FloatField(default=0.0)  # VADER compound, -1 … 1
    sentiment_label = models.CharField(max_length=8, choices=Sentiment.choices, default=Sentiment.NEUTRAL)
    sentiment_method = models.CharField(max_length=8, choices=SentimentMethod.choices, default=SentimentMethod.VADER)
    reach = models.PositiveBigIntegerField(default=0)
    # Triage.
    status = models.CharField(max_length=12, choices=MentionStatus.choices, default=MentionStatus.NEW)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey("playbooks.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions", db_index=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="mentions")
    watches = models.ManyToManyField(Watch, through="MentionMatch", related_name="mentions")

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-posted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "source", "external_id"], name="mention_unique_per_source"),
        ]
        indexes = [
            models.Index(fields=["organization", "-posted_at", "-id"], name="mention_inbox"),
            models.Index(fields=["organization", "status", "-posted_at", "-id"], name="mention_inbox_status"),
            models.Index(fields=["organization", "author_handle"], name="mention_author"),
            # With the id, so "this incident's / this person's mentions, newest first" is read in
            # the inbox's exact order and keyset cursor.
            models.Index(fields=["incident", "-posted_at", "-id"], name="mention_incident_feed", condition=Q(incident__isnull=False)),
            models.Index(fields=["assignee", "-posted_at", "-id"], name="mention_assignee_feed", condition=Q(assignee__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"

    def is_claimed(self) -> bool:
        return self.assignee_id is not None


class MentionMatch(OrganizationOwned):
    """Which watches a mention matched; ``posted_at`` is copied so a watch filter reads one index
    (``mention_match_watch``, in the inbox's order). As for ``Mention``, the foreign keys have no
    indexes of their own: the unique constraint serves the mention, ``mention_match_watch`` the watch."""

    organization = models.ForeignKey("crisiscenter.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="matches", db_index=False)
    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="matches", db_index=False)
    posted_at = models.DateTimeField()

    class Meta:
        default_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["mention", "watch"], name="mention_match_unique")]
        indexes = [models.Index(fields=["watch", "-posted_at", "-mention"], name="mention_match_watch")]


class MentionNote(OrganizationOwned, AppendOnlyModel):
    """An internal note on a mention (never shown publicly)."""

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=150)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["created_at", "id"]


class JobKind(models.TextChoices):
    FILE = "file", "File import"
    DRILL = "drill", "Drill replay"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class IngestJob(OrganizationOwned):
    """A file import or a drill replay: the uploaded bytes, where we are in them, and the tally.

    ``position`` counts items already handed to the pipeline *and committed*; a worker that
    dies mid-chunk leaves it behind, and the job resumes from there (dedupe makes the overlap
    harmless)."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="jobs")
    kind = models.CharField(max_length=8, choices=JobKind.choices)
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=16)
    content = models.BinaryField()
    column_mapping = models.JSONField(default=dict, blank=True)
    speed = models.FloatField(default=1.0)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the next step was scheduled for; a job whose step is long overdue is resumed.
    next_step_at = models.DateTimeField(null=True, blank=True)
    # A drill maps the first item's original time to this wall-clock instant.
    replay_started_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name}"

    def is_finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)

    def progress(self) -> float:
        return 1.0 if not self.total else min(1.0, self.position / self.total)


class RejectedItem(OrganizationOwned, AppendOnlyModel):
    """An incoming item that failed validation, kept with its reason (and its line in a file)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="rejected_items")
    job = models.ForeignKey(IngestJob, null=True, blank=True, on_delete=models.CASCADE, related_name="rejected_items")
    line = models.PositiveIntegerField(null=True, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["organization", "-received_at"], name="rejected_recent")]


class VolumeBucket(OrganizationOwned):
    """Mentions per minute for one watch (``watch`` null: every mention of the organisation),
    with sentiment and reach sums. Upserted in bulk by the pipeline; the war room detects
    spikes on these series."""

    watch = models.ForeignKey(Watch, null=True, blank=True, on_delete=models.CASCADE, related_name="buckets")
    minute = models.DateTimeField()
    mentions = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    sentiment_sum = models.FloatField(default=0.0)
    reach_sum = models.PositiveBigIntegerField(default=0)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(fields=["watch", "minute"], condition=Q(watch__isnull=False), name="volume_watch_minute"),
            models.UniqueConstraint(fields=["organization", "minute"], condition=Q(watch__isnull=True), name="volume_org_minute"),
        ]

    def average_sentiment(self) -> float:
        return self.sentiment_sum / self.mentions if self.mentions else 0.0


class Resolution(models.IntegerChoices):
    FIVE_MINUTES = 5, "5 minutes"
    HOUR = 60, "1 hour"


class VolumeRollup(OrganizationOwned):
    """The minute buckets added up to 5-minute and hourly ones, as the pipeline stores them
    (the same batch, the same statement), so long ranges are read without summing minutes and
    outlive the minutes' retention (settings.VOLUME_RETENTION_DAYS)."""

    watch = models.ForeignKey(Watch, null=True, blank=True, on_delete=models.CASCADE, related_name="rollups")
    resolution = models.PositiveSmallIntegerField(choices=Resolution.choices)
    start = models.DateTimeField()
    mentions = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    sentiment_sum = models.FloatField(default=0.0)
    reach_sum = models.PositiveBigIntegerField(default=0)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(fields=["watch", "resolution", "start"], condition=Q(watch__isnull=False), name="rollup_watch_start"),
            models.UniqueConstraint(fields=["organization", "resolution", "start"], condition=Q(watch__isnull=True), name="rollup_org_start"),
        ]

    def average_sentiment(self) -> float:
        return self.sentiment_sum / self.mentions if self.mentions else 0.0


class SpikeStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Spike(OrganizationOwned):
    """A surge of one watch's volume over its baseline, from detection until it subsides.

    Counts are per detection window (``window_minutes``); ``baseline`` is mentions a minute.
    ``explanation`` says why it is happening: surging and new terms, the first posts, the top
    amplifiers, the sentiment shift (``monitoring.spike_services.explain``)."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="spikes")
    status = models.CharField(max_length=8, choices=SpikeStatus.choices, default=SpikeStatus.OPEN)
    started_at = models.DateTimeField()  # the first minute that ran well above the baseline
    detected_at = models.DateTimeField()  # the minute whose window crossed the threshold
    peak_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    window_minutes = models.PositiveSmallIntegerField()
    peak_count = models.PositiveIntegerField()
    window_count = models.PositiveIntegerField()  # the latest window
    baseline = models.FloatField()
    expected = models.FloatField()  # mentions the baseline expects in a window
    explanation = models.JSONField(default=dict, blank=True)
    explained_at = models.DateTimeField(null=True, blank=True)
    # The playbook whose triggers this spike meets best (monitoring.spike_alerts.matching_playbook).
    suggested_playbook = models.ForeignKey("playbooks.Playbook", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suggested_severity = models.PositiveSmallIntegerField(null=True, blank=True)
    # The alert: handled once an incident is opened from it or it is attached to one, or once
    # someone says it is not a crisis; a snooze hides it (and silences the watch's alerts) for a while.
    incident = models.ForeignKey("playbooks.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="spikes")
    alerted_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-detected_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["watch"], condition=Q(status="open"), name="spike_one_open_per_watch")]
        indexes = [models.Index(fields=["organization", "-detected_at"], name="spike_recent")]

    def __str__(self) -> str:
        return f"{self.watch_id} at {self.detected_at:%Y-%m-%d %H:%M}"

    @property
    def magnitude(self) -> float:
        """The peak window against what the baseline expects of one."""
        return self.peak_count / self.expected if self.expected else 0.0


class WatchDetector(OrganizationOwned):
    """The spike detector's state for one watch (``monitoring.spikes.DetectorState``), locked
    while a worker evaluates it so two batches are never judged against the same old state."""

    watch = models.OneToOneField(Watch, on_delete=models.CASCADE, related_name="detector")
    state = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"


class RumourStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    FALSE = "false", "False"
    CONFIRMED = "confirmed", "Confirmed"


class Rumour(OrganizationOwned):
    """A claim going round, its status, the mentions that carry it, and what corrects it."""

    claim = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=RumourStatus.choices, default=RumourStatus.UNVERIFIED)
    incident = models.ForeignKey("playbooks.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="rumours")
    facts = models.TextField(blank=True)  # what we know, to answer it with
    correction = models.TextField(blank=True)  # the public correction, once there is one
    corrected_at = models.DateTimeField(null=True, blank=True)
    mentions = models.ManyToManyField(Mention, blank=True, related_name="rumours")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.claim[:80]
