"""Statements and everything that carries them to the public.

A ``Statement`` is one message of an incident in one language (a translation is a statement
of its own, approved on its own, linked to the original). Its words live in append-only
``StatementVersion`` rows: an edit adds a version, so superseded wording stays as history and
an approval — an append-only ``Approval`` of one version — is void the moment a newer version
exists. Nothing here is ever deleted: a retraction is a published correction that points at
the statement it corrects.

``Publication`` is one approved version on one channel (the public hub, X, Mastodon, Bluesky, a
signed webhook, e-mail to hub subscribers) with its outcome; ``Promise`` is a commitment a
published version made, with its deadline, watched until it is kept or slips.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from crisiscenter import crypto
from crisiscenter.models import AppendOnlyModel, AppendOnlyQuerySet
from crisiscenter.tenancy import OrganizationOwned, OrganizationScopedManager
from playbooks.models import Incident


class StatementKind(models.TextChoices):
    HOLDING = "holding", "Holding statement"
    UPDATE = "update", "Update"
    CORRECTION = "correction", "Correction"
    FAQ = "faq", "FAQ answer"
    REPLY_TEMPLATE = "reply_template", "Reply template"


# Kinds that carry the hub's "what happened / what we know / what to do" and its update timeline.
HUB_UPDATE_KINDS = (StatementKind.HOLDING, StatementKind.UPDATE, StatementKind.CORRECTION)


class StatementStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Changes requested"
    PUBLISHED = "published", "Published"


class PublicStatus(models.TextChoices):
    """The incident's state as the public sees it (Statuspage's incident statuses)."""

    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class ChannelKind(models.TextChoices):
    HUB = "hub", "Public crisis hub"
    X = "x", "X (Twitter)"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    WEBHOOK = "webhook", "Signed webhook"
    EMAIL = "email", "E-mail to hub subscribers"


# Channels every organisation has, without credentials; the others are accounts it adds.
BUILTIN_CHANNEL_KINDS = (ChannelKind.HUB, ChannelKind.EMAIL)


class Statement(OrganizationOwned):
    """One message of an incident in one language. Changes only through responses.services."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="statements")
    kind = models.CharField(max_length=16, choices=StatementKind.choices)
    language = models.CharField(max_length=16, default="en")
    translation_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="translations")
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections")
    spokesperson = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    target_channels = models.JSONField(default=list, blank=True)  # ChannelKind values, in publishing order
    status = models.CharField(max_length=16, choices=StatementStatus.choices, default=StatementStatus.DRAFT)
    current_version = models.ForeignKey("StatementVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    published_version = models.ForeignKey("StatementVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    review_requested_at = models.DateTimeField(null=True, blank=True)
    review_due_at = models.DateTimeField(null=True, blank=True)
    review_escalated_at = models.DateTimeField(null=True, blank=True)
    first_published_at = models.DateTimeField(null=True, blank=True)
    last_published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["incident_id", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status"], name="statement_org_status"),
            models.Index(fields=["incident", "kind", "-last_published_at"], name="statement_incident_published"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=StatementKind.values), name="statement_kind_valid"),
            models.CheckConstraint(condition=models.Q(status__in=StatementStatus.values), name="statement_status_valid"),
            models.UniqueConstraint(fields=["translation_of", "language"], name="statement_one_translation_per_language"),
        ]

    def __str__(self) -> str:
        version = self.current_version
        return (version.headline or version.body[:60]) if version else f"{self.get_kind_display()} #{self.pk}"

    def is_publishable(self) -> bool:
        return self.status == StatementStatus.APPROVED and self.current_version_id is not None

    def is_awaiting_approval(self) -> bool:
        return self.status == StatementStatus.IN_REVIEW


class StatementVersion(OrganizationOwned, AppendOnlyModel):
    """The words of a statement at one moment. Never changed: an edit is a new version."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    headline = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    question = models.CharField(max_length=500, blank=True)  # FAQ answers
    # What the hub shows beside an update (part of what the approvers approve).
    what_happened = models.TextField(blank=True)
    known = models.TextField(blank=True)
    unknown = models.TextField(blank=True)
    what_to_do = models.TextField(blank=True)
    public_status = models.CharField(max_length=16, choices=PublicStatus.choices, default=PublicStatus.INVESTIGATING)
    next_update_at = models.DateTimeField(null=True, blank=True)
    # [{"text": str, "due_at": ISO datetime}] — turned into tracked Promise rows when published.
    promises = models.JSONField(default=list, blank=True)
    # The named spokesperson the public sees with these words: approved with them.
    spokesperson = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    change_note = models.CharField(max_length=300, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["statement_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["statement", "number"], name="statement_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.statement_id} v{self.number}"

    def content(self) -> dict:
        """The fields approvers approve, as compared between versions."""
        return {field: getattr(self, field) for field in VERSION_CONTENT_FIELDS} | {
            "next_update_at": self.next_update_at.isoformat() if self.next_update_at else None,
            "promises": self.promises,
            "spokesperson_id": self.spokesperson_id,
        }


VERSION_CONTENT_FIELDS = ("headline", "body", "question", "what_happened", "known", "unknown", "what_to_do", "public_status")


class ApprovalDecision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Changes requested"


class Approval(OrganizationOwned, AppendOnlyModel):
    """One approver's decision on one version. Counts only while that version is current."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="approvals")
    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=ApprovalDecision.choices)
    comment = models.TextField(blank=True)
    # The approver roles this decision stood for (playbook roles such as approver_legal).
    roles = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["version_id", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "approver"], name="approval_once_per_version_and_approver")]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision} v{self.version_id}"


class PublishingChannel(OrganizationOwned):
    """Where statements go: the organisation's public hub and its subscribers' e-mail (one of
    each, created on first use), an account on a network, or a signed webhook. Each has its
    access list of who may publish through it."""

    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=120)
    config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True)
    is_enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="channel_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name

    def credentials(self) -> dict:
        """The decrypted credentials (never logged, never sent to the browser)."""
        return json.loads(crypto.decrypt(self.credentials_encrypted)) if self.credentials_encrypted else {}


class ChannelAccess(OrganizationOwned):
    """Who may publish through a channel. ``in_lockdown``: still may during a crisis lockdown.
    Revoking sets ``revoked_at`` (kept for the record); it takes effect at once, because every
    publish checks the list when it runs, not when it was asked for."""

    channel = models.ForeignKey(PublishingChannel, on_delete=models.CASCADE, related_name="access")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    in_lockdown = models.BooleanField(default=False)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        default_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "user"], condition=models.Q(revoked_at__isnull=True), name="channel_access_one_live_grant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.channel}"


class PublishingLockdown(OrganizationOwned):
    """While a row is active (``ended_at`` empty), only grants marked ``in_lockdown`` publish."""

    reason = models.CharField(max_length=300)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization"], condition=models.Q(ended_at__isnull=True), name="lockdown_one_active_per_org")
        ]

    def __str__(self) -> str:
        return f"Lockdown since {self.started_at:%Y-%m-%d %H:%M}"


class PublicationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Will retry"
    SUCCEEDED = "succeeded", "Published"
    FAILED = "failed", "Failed"


class Publication(OrganizationOwned):
    """One approved version on one channel, and what came of it."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="publications")
    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="publications")
    channel = models.ForeignKey(PublishingChannel, on_delete=models.PROTECT, related_name="publications")
    channel_kind = models.CharField(max_length=16, choices=ChannelKind.choices)  # the channel's, kept for cheap reads
    position = models.PositiveSmallIntegerField(default=0)  # 0 goes first (the platform where it started)
    status = models.CharField(max_length=16, choices=PublicationStatus.choices, default=PublicationStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=500, blank=True)
    parts = models.JSONField(default=list, blank=True)  # [{"external_id", "url"}] for threads
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["statement_id", "-created_at", "position"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="publication_due")]
        constraints = [models.UniqueConstraint(fields=["version", "channel"], name="publication_once_per_version_and_channel")]

    def __str__(self) -> str:
        return f"{self.statement_id} v{self.version_id} on {self.channel_kind}"

    def is_finished(self) -> bool:
        return self.status in (PublicationStatus.SUCCEEDED, PublicationStatus.FAILED)


class PromiseStatus(models.TextChoices):
    OPEN = "open", "Open"
    KEPT = "kept", "Kept"
    SLIPPED = "slipped", "Slipped"


class Promise(OrganizationOwned):
    """Something a published statement committed to, by a deadline."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="promises")
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="promise_rows")
    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="+")
    text = models.CharField(max_length=500)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=PromiseStatus.choices, default=PromiseStatus.OPEN)
    warned_at = models.DateTimeField(null=True, blank=True)
    kept_at = models.DateTimeField(null=True, blank=True)
    kept_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    slipped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"], name="promise_open_due")]

    def __str__(self) -> str:
        return self.text


class HubPage(OrganizationOwned):
    """The public page of an incident, created by its first publication on the hub."""

    incident = models.OneToOneField(Incident, on_delete=models.PROTECT, related_name="hub_page")
    slug = models.SlugField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)  # Last-Modified of the page and feeds

    class Meta:
        default_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="hub_page_unique_slug_per_org")]

    def __str__(self) -> str:
        return self.slug


class HubSubscription(OrganizationOwned):
    """A reader's e-mail subscription to an organisation's hub (``incident`` empty) or to one
    incident's page. Double opt-in: nothing is sent but the confirmation mail until
    ``confirmed_at``. The link token is never stored: mails carry an HMAC of ``token_nonce``
    under SECRET_KEY, and ``token_hash`` (its SHA-256) finds the row. Changes only through
    responses.hub."""

    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="hub_subscriptions")
    email = models.EmailField(max_length=254)
    language = models.CharField(max_length=16, default="en")
    token_nonce = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["created_at", "id"]
        constraints = [
            # "Live" = not unsubscribed; NULL incidents are distinct in a plain unique index,
            # hence one constraint for organisation-wide subscriptions and one for incidents.
            models.UniqueConstraint(
                fields=["organization", "incident", "email"], condition=models.Q(unsubscribed_at__isnull=True, incident__isnull=False),
                name="hub_subscription_one_live_per_incident",
            ),
            models.UniqueConstraint(
                fields=["organization", "email"], condition=models.Q(unsubscribed_at__isnull=True, incident__isnull=True),
                name="hub_subscription_one_live_per_organization",
            ),
        ]
        indexes = [models.Index(fields=["organization", "confirmed_at"], name="hub_subscription_org_confirmed")]

    def __str__(self) -> str:
        return f"{self.email} ({'incident ' + str(self.incident_id) if self.incident_id else 'organisation'})"

    def is_live(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


class HubEmailDelivery(OrganizationOwned):
    """One publication mailed to one subscriber: a retried or re-claimed e-mail publication
    skips whoever already has it."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="hub_deliveries")
    subscription = models.ForeignKey(HubSubscription, on_delete=models.CASCADE, related_name="deliveries")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["publication", "subscription"], name="hub_delivery_once_per_subscriber")]

    def __str__(self) -> str:
        return f"publication {self.publication_id} to subscription {self.subscription_id}"


class PublishingPolicy(OrganizationOwned):
    """The organisation's standing rules for going public during a crisis."""

    # Scheduled (promotional) posts pause while an incident this severe or worse is open
    # (1 is the most severe; 4 pauses for any incident).
    pause_scheduled_at_severity = models.PositiveSmallIntegerField(default=2)
    # Public replies to one author within one incident before the conversation should move
    # to a private channel (DM, e-mail, phone).
    replies_per_author = models.PositiveSmallIntegerField(default=2)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="publishing_policy_one_per_org"),
            models.CheckConstraint(condition=models.Q(pause_scheduled_at_severity__gte=1, pause_scheduled_at_severity__lte=4), name="publishing_policy_severity_1_to_4"),
        ]

    def __str__(self) -> str:
        return f"Publishing policy of {self.organization_id}"


class ScheduledPostStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    PAUSED = "paused", "Paused for a crisis"
    AWAITING_REVIEW = "awaiting_review", "Crisis over: review before it goes out"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ScheduledPost(OrganizationOwned):
    """A routine (often promotional) post queued on a channel. Paused automatically while a
    serious incident is open, and back only after someone has reviewed it."""

    channel = models.ForeignKey(PublishingChannel, on_delete=models.PROTECT, related_name="scheduled_posts")
    text = models.TextField()
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ScheduledPostStatus.choices, default=ScheduledPostStatus.SCHEDULED)
    pause_reason = models.CharField(max_length=300, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_for = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)  # a send in progress; past it, a dead worker's
    external_id = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["scheduled_at", "id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="scheduled_post_due")]

    def __str__(self) -> str:
        return self.text[:60]


class ReplyStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Will retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Reply(OrganizationOwned):
    """A public reply to a mention, from an approved reply template, through the channel of
    the mention's network. Recorded on the mention, never deleted."""

    mention = models.ForeignKey("monitoring.Mention", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="replies")
    template_version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(PublishingChannel, on_delete=models.PROTECT, related_name="replies")
    author_handle = models.CharField(max_length=100)  # who was answered, for the per-author limit
    text = models.TextField()
    moves_to_private = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ReplyStatus.choices, default=ReplyStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "author_handle", "incident"], name="reply_author_incident"),
            models.Index(fields=["mention"], name="reply_mention"),
        ]

    def __str__(self) -> str:
        return f"Reply to {self.author_handle}"
