from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from crisiscenter.models import AppendOnlyModel, AppendOnlyQuerySet
from crisiscenter.tenancy import OrganizationOwned, OrganizationScopedManager
from playbooks.document import Category


class Playbook(OrganizationOwned):
    """A crisis plan. Its content lives in immutable versions; editing adds a version."""

    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=Category.CHOICES)
    latest_version_number = models.PositiveIntegerField(default=0)
    is_archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="playbook_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_category_display_label(self) -> str:
        return Category.LABELS.get(self.category, self.category)


class PlaybookVersion(OrganizationOwned, AppendOnlyModel):
    """One snapshot of a playbook's document. Never changed: incidents keep the version they
    were opened with, and versions can be compared."""

    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    change_note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["playbook_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.playbook} v{self.number}"


class Severity(models.IntegerChoices):
    CRITICAL = 1, "1 — critical"
    HIGH = 2, "2 — high"
    MODERATE = 3, "3 — moderate"
    LOW = 4, "4 — low"


class IncidentStatus(models.TextChoices):
    DETECTED = "detected", "Detected"
    ACTIVE = "active", "Active"
    CONTAINED = "contained", "Contained"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Forward moves plus the flare-ups real crises have (contained or resolved → active again).
INCIDENT_TRANSITIONS: dict[str, set[str]] = {
    IncidentStatus.DETECTED: {IncidentStatus.ACTIVE, IncidentStatus.CONTAINED, IncidentStatus.RESOLVED},
    IncidentStatus.ACTIVE: {IncidentStatus.CONTAINED, IncidentStatus.RESOLVED},
    IncidentStatus.CONTAINED: {IncidentStatus.ACTIVE, IncidentStatus.RESOLVED},
    IncidentStatus.RESOLVED: {IncidentStatus.ACTIVE, IncidentStatus.CLOSED},
    IncidentStatus.CLOSED: set(),
}


class Platform(models.TextChoices):
    X = "x", "X (Twitter)"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    REDDIT = "reddit", "Reddit"
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    TIKTOK = "tiktok", "TikTok"
    NEWS = "news", "News"
    OTHER = "other", "Other"


class MistakeBy(models.TextChoices):
    UNKNOWN = "unknown", "Not known yet"
    NOBODY = "nobody", "Nobody (no mistake)"
    EMPLOYEE = "employee", "An employee"
    CONTRACTOR = "contractor", "A contractor or supplier"
    OUTSIDER = "outsider", "An outsider"


class Incident(OrganizationOwned):
    """A crisis being handled: opened from a playbook version (kept for life) or by hand."""

    title = models.CharField(max_length=200)
    playbook = models.ForeignKey(Playbook, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents")
    playbook_version = models.ForeignKey(PlaybookVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.DETECTED)
    origin_platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.OTHER)
    origin_url = models.URLField(max_length=500, blank=True)
    # Fact sheet ("identify the problem").
    what_happened = models.TextField(blank=True)
    mistake_by = models.CharField(max_length=16, choices=MistakeBy.choices, default=MistakeBy.UNKNOWN)
    what_went_wrong = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    who_is_affected = models.TextField(blank=True)
    damage = models.TextField(blank=True)
    known = models.TextField(blank=True)
    unknown = models.TextField(blank=True)
    # Clocks.
    detected_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    first_statement_at = models.DateTimeField(null=True, blank=True)
    first_statement_due_at = models.DateTimeField(null=True, blank=True)
    next_update_due_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-detected_at"]
        indexes = [models.Index(fields=["organization", "status"], name="incident_org_status")]
        constraints = [
            models.CheckConstraint(condition=models.Q(severity__gte=1, severity__lte=4), name="incident_severity_1_to_4"),
            models.CheckConstraint(condition=models.Q(status__in=IncidentStatus.values), name="incident_status_valid"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_open(self) -> bool:
        return self.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)

    def can_move_to(self, status: str) -> bool:
        return status in INCIDENT_TRANSITIONS[self.status]


class IncidentRole(OrganizationOwned):
    """Who fills a role for this incident (defaulted from the playbook, changeable)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=32)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    backup = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["incident_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.member or '—'}"


class IncidentTask(OrganizationOwned):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    role = models.CharField(max_length=32, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    due_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    from_checklist = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    overdue_flagged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["incident_id", "due_at", "position", "id"]
        indexes = [models.Index(fields=["done_at", "due_at"], name="task_open_due")]

    def __str__(self) -> str:
        return self.title

    def is_done(self) -> bool:
        return self.done_at is not None

    def is_overdue(self, now=None) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < (now or timezone.now())


class TimelineKind(models.TextChoices):
    OPENED = "opened", "Opened"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    STATUS = "status", "Status change"
    SEVERITY = "severity", "Severity change"
    FACTS = "facts", "Fact sheet"
    ROLE = "role", "Role change"
    TASK_ADDED = "task_added", "Task added"
    TASK_DONE = "task_done", "Task done"
    TASK_REOPENED = "task_reopened", "Task reopened"
    TASK_OVERDUE = "task_overdue", "Task overdue"
    NOTE = "note", "Note"
    NOTIFICATION = "notification", "Notification"
    SPIKE = "spike", "Spike"
    STATEMENT = "statement", "Statement"


class TimelineEntry(OrganizationOwned, AppendOnlyModel):
    """The incident's append-only log. ``occurred_at`` is when it happened (a manual entry may
    say 'at 09:12 the CEO called'); ``logged_at`` is when it was written down."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="timeline")
    kind = models.CharField(max_length=16, choices=TimelineKind.choices)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    actor_label = models.CharField(max_length=200)
    occurred_at = models.DateTimeField(default=timezone.now)
    logged_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["incident_id", "occurred_at", "id"]
        indexes = [models.Index(fields=["incident", "occurred_at"], name="timeline_incident_time")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%H:%M} {self.kind}: {self.text[:60]}"


class Notification(OrganizationOwned):
    """An in-app notification, also mailed and (optionally) posted to Slack/Teams by tasks.
    ``dedupe_key`` makes "notify once" a database fact rather than a hope."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32)
    text = models.CharField(max_length=500)
    dedupe_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "recipient", "dedupe_key"], name="notification_once_per_key"),
        ]

    def __str__(self) -> str:
        return self.text


class PostIncidentReview(OrganizationOwned):
    """What the team learned, written once the incident is resolved. Timings are measured from
    the incident itself (see incident_selectors.review_measurements), never typed in."""

    incident = models.OneToOneField(Incident, on_delete=models.PROTECT, related_name="review")
    went_well = models.TextField(blank=True)
    to_change = models.TextField(blank=True)
    # [{"title": str, "owner_id": int | None, "due": "YYYY-MM-DD" | None, "done": bool}]
    action_items = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"

    def __str__(self) -> str:
        return f"Review of {self.incident}"


class ProposalStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    DISMISSED = "dismissed", "Dismissed"


class PlaybookProposal(OrganizationOwned):
    """A change to a playbook proposed from a lesson of an incident, for admins to apply."""

    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="proposals")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="proposals")
    text = models.TextField()
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.OPEN)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:80]


class ChatKind(models.TextChoices):
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"


class ChatWebhook(OrganizationOwned):
    """An incoming-webhook URL of the organisation's Slack or Teams channel (encrypted at
    rest: the URL itself is the credential)."""

    kind = models.CharField(max_length=8, choices=ChatKind.choices)
    url_encrypted = models.TextField()
    url_hint = models.CharField(max_length=80, help_text="host and the URL's last characters, for display")
    enabled = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["organization", "kind"], name="chat_webhook_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.url_hint})"
