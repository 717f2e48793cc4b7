"""Reads of statements, approvals, publications, channels and promises: tenant-scoped and
pre-joined."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from crisiscenter.models import Membership, Organization
from monitoring.models import Mention
from playbooks.models import Incident, MistakeBy
from responses import policy
from responses.models import (
    Approval,
    ChannelAccess,
    Promise,
    Publication,
    Reply,
    ScheduledPost,
    PublishingChannel,
    Statement,
    StatementKind,
    StatementStatus,
    StatementVersion,
)

_STATEMENT_JOINS = ("incident", "incident__organization", "incident__playbook_version", "current_version", "current_version__author",
                    "current_version__spokesperson",
                    "published_version", "spokesperson", "created_by", "translation_of", "corrects")


def statements_of(*, incident: Incident) -> QuerySet[Statement]:
    return Statement.objects.for_organization(incident.organization_id).filter(incident=incident).select_related(*_STATEMENT_JOINS)


def statement_of(*, organization: Organization, statement_id: int) -> Statement | None:
    return Statement.objects.for_organization(organization).filter(pk=statement_id).select_related(*_STATEMENT_JOINS).first()


def statement_versions(*, statement: Statement) -> QuerySet[StatementVersion]:
    return StatementVersion.objects.for_organization(statement.organization_id).filter(statement=statement).select_related("author", "spokesperson").order_by("-number")


def statement_version(*, statement: Statement, number: int) -> StatementVersion | None:
    return statement_versions(statement=statement).filter(number=number).first()


def approvals_of(*, statement: Statement) -> QuerySet[Approval]:
    return Approval.objects.for_organization(statement.organization_id).filter(statement=statement).select_related("approver", "version").order_by("created_at", "id")


def publications_of(*, statement: Statement) -> QuerySet[Publication]:
    return Publication.objects.for_organization(statement.organization_id).filter(statement=statement).select_related("channel", "version").order_by("-created_at", "position")


def statements_awaiting(*, organization: Organization, membership: Membership | None = None) -> list[Statement]:
    """Statements waiting for approval, oldest request first; with ``membership``, only those
    that member may approve (never their own version, never one they already decided)."""
    waiting = list(
        Statement.objects.for_organization(organization).filter(status=StatementStatus.IN_REVIEW).select_related(*_STATEMENT_JOINS).order_by("review_requested_at", "id")
    )
    if membership is None:
        return waiting
    decided = set(Approval.objects.for_organization(organization).filter(approver=membership.user, version_id__in=[s.current_version_id for s in waiting]).values_list("version_id", flat=True))
    policies: dict[int, policy.ApprovalPolicy] = {}
    mine = []
    for statement in waiting:
        if statement.current_version.author_id == membership.user_id or statement.current_version_id in decided:
            continue
        if statement.incident_id not in policies:
            policies[statement.incident_id] = policy.approval_policy(statement.incident)
        review_policy = policies[statement.incident_id]
        if review_policy.may_approve(membership):
            mine.append(statement)
    return mine


def channels_of(*, organization: Organization) -> QuerySet[PublishingChannel]:
    live = ChannelAccess.objects.for_organization(organization).filter(revoked_at__isnull=True).select_related("user", "granted_by")
    return PublishingChannel.objects.for_organization(organization).prefetch_related(Prefetch("access", queryset=live, to_attr="live_access")).order_by("kind", "name")


def channel_of(*, organization: Organization, channel_id: int) -> PublishingChannel | None:
    return channels_of(organization=organization).filter(pk=channel_id).first()


def promises_of(*, incident: Incident) -> QuerySet[Promise]:
    return Promise.objects.for_organization(incident.organization_id).filter(incident=incident).select_related("statement", "kept_by").order_by("due_at", "id")


def promise_of(*, organization: Organization, promise_id: int) -> Promise | None:
    return Promise.objects.for_organization(organization).filter(pk=promise_id).select_related("incident", "incident__organization", "statement").first()


def replies_on(mention: Mention) -> QuerySet[Reply]:
    """The replies recorded on a mention, newest first."""
    return (
        Reply.objects.for_organization(mention.organization_id).filter(mention=mention)
        .select_related("sent_by", "channel", "template_version").order_by("-created_at", "-id")
    )


def usable_reply_templates(incident: Incident) -> list[Statement]:
    """The incident's reply templates whose current wording is approved now, each with its
    ``preview``: the text a reply sent now would carry."""
    from responses.reply_services import render_reply
    from responses.services import is_version_approved

    candidates = statements_of(incident=incident).filter(
        kind=StatementKind.REPLY_TEMPLATE, status__in=[StatementStatus.APPROVED, StatementStatus.PUBLISHED],
    ).order_by("language", "created_at", "id")
    usable = []
    for template in candidates:
        if template.current_version_id and is_version_approved(template, template.current_version):
            template.preview = render_reply(template)
            usable.append(template)
    return usable


def scheduled_posts_of(organization_id: int) -> QuerySet[ScheduledPost]:
    return ScheduledPost.objects.for_organization(organization_id).select_related("channel", "paused_for", "created_by").order_by("scheduled_at", "id")


# --- tone advice ----------------------------------------------------------------------------
# Kinds in which the organisation speaks about the incident itself: when one of its own people
# (or a contractor) made the mistake, they must say sorry. The playbook has no flag for it yet.
APOLOGY_KINDS = (StatementKind.HOLDING, StatementKind.UPDATE, StatementKind.CORRECTION)
OWNED_MISTAKES = (MistakeBy.EMPLOYEE, MistakeBy.CONTRACTOR)


def voice_rules(incident: Incident) -> list[dict]:
    document = incident.playbook_version.document if incident.playbook_version_id else {}
    return list(document.get("voice_rules") or [])


def requires_apology(incident: Incident, kind: str | None) -> bool:
    return kind in APOLOGY_KINDS and incident.mistake_by in OWNED_MISTAKES


# The version fields readers see, checked one by one so each finding names its field
# (its offsets are offsets into that field).
TONE_FIELDS = ("headline", "question", "body", "what_happened", "known", "unknown", "what_to_do")


def text_tone(*, text: str, language: str, incident: Incident, kind: str | None) -> dict[str, Any]:
    """The tone checker's advice on a text the caller is writing (nothing is saved)."""
    from responses import tone

    require_apology = requires_apology(incident, kind)
    findings = tone.check_tone(text, language=language, voice_rules=voice_rules(incident), require_apology=require_apology)
    return {"language": language, "covered": tone.is_covered(language), "require_apology": require_apology, "findings": [finding.as_dict() for finding in findings]}


def statement_tone(statement: Statement) -> dict[str, Any]:
    """Advice on the current version, field by field; an apology is looked for in all of them
    together (see APOLOGY_KINDS)."""
    from responses import tone

    version, incident = statement.current_version, statement.incident
    require_apology = requires_apology(incident, statement.kind)
    rules = voice_rules(incident)
    findings = []
    for field in TONE_FIELDS:
        text = getattr(version, field, "") if version else ""
        if text:
            findings += [{"field": field, **finding.as_dict()} for finding in tone.check_tone(text, language=statement.language, voice_rules=rules)]
    if require_apology:
        whole = "\n\n".join(getattr(version, field) for field in TONE_FIELDS if version and getattr(version, field))
        findings += [
            {"field": None, **finding.as_dict()}
            for finding in tone.check_tone(whole, language=statement.language, require_apology=True)
            if finding.rule == "missing_apology"
        ]
    return {"language": statement.language, "covered": tone.is_covered(statement.language), "require_apology": require_apology, "findings": findings}
