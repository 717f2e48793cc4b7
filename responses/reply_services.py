"""Replies from the inbox: through the same channel adapters as statements, bound by the same
publishing rights.

A reply always comes from an approved reply template (a statement of kind reply_template):
one consistent message. The template may say ``{latest_update}`` and ``{hub_url}``, filled
when the reply is sent from the incident's latest update on the hub, so canned replies follow
the approved statement when it changes. Public replies to one author are limited per
incident; past the limit the conversation moves to a private channel (the organisation's publishing policy sets the limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from crisiscenter.audit import audit_record
from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import Membership, Organization, Role
from monitoring.models import Mention, MentionStatus
from playbooks.models import Incident
from responses import events, policy
from responses.models import (
    HUB_UPDATE_KINDS,
    PublicationStatus,
    PublishingChannel,
    PublishingPolicy,
    Reply,
    ReplyStatus,
    Statement,
    StatementKind,
    StatementStatus,
)
from responses.services import _require, claim_send, holds_claim, hub_url, is_version_approved, send_through_channel

REPLY_PLACEHOLDERS = ("latest_update", "hub_url")
REPLYABLE_NETWORKS = ("x", "mastodon", "bluesky")


def publishing_policy(organization_id: int) -> PublishingPolicy:
    found = PublishingPolicy.objects.for_organization(organization_id).first()
    return found or PublishingPolicy(organization_id=organization_id)


def policy_update(*, organization: Organization, actor_membership: Membership, pause_scheduled_at_severity: int, replies_per_author: int) -> PublishingPolicy:
    _require(actor_membership, Role.ADMIN, organization.pk)
    if pause_scheduled_at_severity not in (1, 2, 3, 4):
        raise ServiceError("Severity runs from 1 (most severe) to 4.", field="pause_scheduled_at_severity")
    if not 1 <= replies_per_author <= 20:
        raise ServiceError("Allow 1 to 20 public replies per author.", field="replies_per_author")
    with transaction.atomic():
        current, _ = PublishingPolicy.unscoped.select_for_update().get_or_create(organization=organization)
        before = {"pause_scheduled_at_severity": current.pause_scheduled_at_severity, "replies_per_author": current.replies_per_author}
        PublishingPolicy.unscoped.filter(pk=current.pk).update(
            pause_scheduled_at_severity=pause_scheduled_at_severity, replies_per_author=replies_per_author, updated_by=actor_membership.user, updated_at=timezone.now()
        )
        audit_record(action="publishing.policy_updated", actor=actor_membership.user, organization=organization, target=current, before=before,
                     after={"pause_scheduled_at_severity": pause_scheduled_at_severity, "replies_per_author": replies_per_author})
    return publishing_policy(organization.pk)


# --- replies ----------------------------------------------------------------------------------
def latest_update(incident: Incident, language: str) -> Statement | None:
    """The incident's newest update on the hub in this language (the original's otherwise)."""
    published = Statement.objects.for_organization(incident.organization_id).filter(
        incident=incident, kind__in=HUB_UPDATE_KINDS, publications__channel_kind="hub", publications__status=PublicationStatus.SUCCEEDED,
    ).select_related("published_version").order_by("-last_published_at", "-id")
    return published.filter(language=language).first() or published.filter(translation_of__isnull=True).first()


def render_reply(template: Statement) -> str:
    """The template's approved words, with the incident's latest update and hub link filled in."""
    from responses.models import HubPage
    from responses.services import fill_template

    update = latest_update(template.incident, template.language)
    page = HubPage.objects.for_organization(template.organization_id).filter(incident_id=template.incident_id).first()
    link = hub_url(template.incident.organization.slug, page.slug if page else "")
    version = update.published_version if update else None
    summary = (version.headline or version.body.split("\n", 1)[0]) if version else ""
    return fill_template(template.current_version.body, {"latest_update": summary or "[latest_update]", "hub_url": link}).strip()


def _approved_template(template: Statement, mention: Mention) -> Statement:
    wrong_incident = mention.incident_id is not None and template.incident_id != mention.incident_id
    if template.organization_id != mention.organization_id or template.kind != StatementKind.REPLY_TEMPLATE or wrong_incident:
        raise ServiceError("Choose one of the reply templates of the mention's incident.", field="template_id")
    if template.status not in (StatementStatus.APPROVED, StatementStatus.PUBLISHED) or not is_version_approved(template, template.current_version):
        raise ServiceError("That reply template is not approved in its current wording.", code="not_approved", field="template_id")
    return template


def replies_to_author(organization_id: int, author_handle: str, incident_id: int | None) -> int:
    # Handles are case-insensitive on every network: @Alice and @alice are one person.
    return Reply.objects.for_organization(organization_id).filter(author_handle__iexact=author_handle, incident_id=incident_id).exclude(status=ReplyStatus.FAILED).count()


def reply_channel(mention: Mention) -> PublishingChannel | None:
    """The organisation's channel a reply to this mention goes through: on the mention's
    network, and for Mastodon on the mention's own server (a status id means nothing on
    another instance)."""
    channels = PublishingChannel.objects.for_organization(mention.organization_id).filter(kind=mention.source.kind, is_enabled=True).order_by("pk")
    if mention.source.kind != "mastodon":
        return channels.first()
    home = _host(mention.source.config.get("instance_url", ""))
    return next((channel for channel in channels if _host(channel.config.get("instance_url", "")) == home), None)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


@dataclass
class ReplyState:
    """Where a member stands on replying to a mention ('' in ``blocked`` when they may)."""

    blocked: str
    code: str  # the refusal's stable code when blocked
    channel: PublishingChannel | None
    sent: int
    limit: int
    invited: bool  # the author was already invited to a private channel

    @property
    def past_limit(self) -> bool:
        return self.sent >= self.limit


def reply_state(mention: Mention, membership: Membership, incident_id: int | None = None) -> ReplyState:
    """Everything reply_send checks before it writes, as one answer the pages can show."""
    incident_id = incident_id or mention.incident_id
    limit = publishing_policy(mention.organization_id).replies_per_author
    sent = replies_to_author(mention.organization_id, mention.author_handle, incident_id) if incident_id else 0
    invited = bool(incident_id) and Reply.objects.for_organization(mention.organization_id).filter(
        author_handle__iexact=mention.author_handle, incident_id=incident_id, moves_to_private=True,
    ).exclude(status=ReplyStatus.FAILED).exists()
    channel = reply_channel(mention) if mention.source.kind in REPLYABLE_NETWORKS else None
    blocked, code = "", ""
    if mention.source.kind not in REPLYABLE_NETWORKS or not mention.external_id:
        blocked, code = "Replies go to posts on X, Mastodon or Bluesky; answer this one where it was posted.", "not_replyable"
    elif channel is None:
        blocked, code = f"There is no {mention.source.get_kind_display()} channel switched on for this account's server: an admin adds one under Publishing.", "no_channel"
    elif refusal := policy.publish_refusal(channel=channel, membership=membership):
        blocked, code = refusal, "publishing_not_allowed"
    elif mention.assignee_id not in (None, membership.user_id):
        blocked, code = f"{mention.assignee} is handling this mention.", "claimed_by_someone_else"
    elif sent >= limit and invited:
        blocked, code = f"@{mention.author_handle} was already invited to a private channel: continue the conversation there.", "reply_limit"
    return ReplyState(blocked=blocked, code=code, channel=channel, sent=sent, limit=limit, invited=invited)


def reply_send(*, mention: Mention, actor_membership: Membership, template: Statement, moves_to_private: bool = False) -> Reply:
    """Queue a public reply to ``mention`` from an approved template, through the
    organisation's channel on the mention's network."""
    _require(actor_membership, Role.RESPONDER, mention.organization_id)
    template = _approved_template(template, mention)
    incident_id = mention.incident_id or template.incident_id
    with transaction.atomic():
        # Serialise replies within the incident, so two responders answering two posts of one
        # author cannot both slip under the limit.
        Incident.objects.for_organization(mention.organization_id).select_for_update().filter(pk=incident_id).first()
        state = reply_state(mention, actor_membership, incident_id)
        if state.code == "publishing_not_allowed":
            raise NotAllowed(state.blocked, code=state.code)
        if state.code == "claimed_by_someone_else":
            raise Conflict(state.blocked, code=state.code)
        if state.code and state.code != "reply_limit":
            raise ServiceError(state.blocked, code=state.code)
        channel, sent, limit = state.channel, state.sent, state.limit
        if sent >= limit and not moves_to_private:
            raise ServiceError(
                f"{sent} public replies to @{mention.author_handle} in this incident already (limit {limit}). "
                "Move the conversation to a private channel: reply once with a template that invites them to DM, e-mail or call.",
                code="reply_limit", details={"replies": sent, "limit": limit},
            )
        if state.code == "reply_limit":  # past the limit, and the author was already invited to a private channel
            raise ServiceError(f"@{mention.author_handle} was already invited to a private channel; continue there.", code="reply_limit",
                               details={"replies": sent, "limit": limit})
        reply = Reply.unscoped.create(
            organization_id=mention.organization_id, mention=mention, incident_id=incident_id, template=template, template_version=template.current_version,
            channel=channel, author_handle=mention.author_handle, text=render_reply(template), moves_to_private=moves_to_private, sent_by=actor_membership.user,
        )
        audit_record(action="reply.queued", actor=actor_membership.user, organization=actor_membership.organization, target=reply,
                     after={"mention_id": mention.pk, "template_id": template.pk, "version": template.current_version.number, "moves_to_private": moves_to_private})
        events.reply_changed(reply)
        transaction.on_commit(lambda: _queue_reply(reply.pk))
    return reply


def _queue_reply(reply_id: int) -> None:
    from responses import tasks

    tasks.send_reply.delay(reply_id)


def reply_attempt(*, reply_id: int) -> float | None:
    """Send one queued reply (the worker). Returns seconds until a retry, or None."""
    from responses.channels.base import OutboundPost

    now = timezone.now()
    lease = claim_send(Reply, reply_id, now)
    if lease is None:
        return None
    reply = Reply.unscoped.select_related("mention", "channel", "template", "template__incident", "template_version").get(pk=reply_id)
    sender = Membership.objects.for_organization(reply.organization_id).filter(user_id=reply.sent_by_id).select_related("user", "organization").first()
    refusal = policy.publish_refusal(channel=reply.channel, membership=sender)
    if not refusal and (reply.template.current_version_id != reply.template_version_id or not is_version_approved(reply.template, reply.template_version)):
        refusal = "The reply template was changed since: its earlier wording is no longer what the team approved."
    if refusal:
        outcome_error, retry_in, external_id, url = refusal, None, "", ""
    else:
        post = OutboundPost(text=reply.text, language=reply.template.language, idempotency_key=f"reply-{reply.pk}", in_reply_to=reply.mention.external_id)
        outcome = send_through_channel(reply.channel, post, attempts=reply.attempts, now=now)
        outcome_error, retry_in, external_id, url = outcome.error, outcome.retry_in, outcome.external_id, outcome.url
    with transaction.atomic():
        if not holds_claim(Reply, reply.pk, lease):
            return None  # taken over after our lease ran out: the new holder records the outcome
        if not outcome_error:
            Reply.unscoped.filter(pk=reply.pk).update(status=ReplyStatus.SENT, external_id=external_id[:200], url=url[:500], error="", sent_at=now, lease_until=None)
            audit_record(action="reply.sent", actor=reply.sent_by, organization=sender.organization if sender else None, target=reply, after={"external_id": external_id, "url": url})
            if sender is not None and reply.mention.status != MentionStatus.REPLIED:
                from monitoring import inbox_services

                try:
                    inbox_services.mention_set_status(mention=reply.mention, actor_membership=sender, status=MentionStatus.REPLIED)
                except ServiceError:
                    pass  # someone else holds the mention now; the reply is recorded on it all the same
        else:
            status = ReplyStatus.RETRYING if retry_in is not None else ReplyStatus.FAILED
            Reply.unscoped.filter(pk=reply.pk).update(status=status, error=outcome_error[:2000], lease_until=None,
                                                      next_attempt_at=now + timedelta(seconds=retry_in) if retry_in is not None else None)
        reply.refresh_from_db()
        events.reply_changed(reply)
    return retry_in

