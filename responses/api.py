"""API v1 for statements (draft, edit, review, translate, publish), the approval queue, the
tone check, promises, publishing channels with their access lists, the publishing lockdown
and policy, replies to mentions from approved templates, and scheduled posts.

Thin views: parse with an input serializer, authorise by role (``required_roles``), call one
service, serialise. Two routes let responders past the view and leave the decision to the
service and the approval policy: deciding on a statement (holders of an approver role on the
incident may, whatever their organisation role; otherwise managers) and publishing it (the
channel's access list, or managers while it has none).
"""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from crisiscenter.api_support import OrganizationRole, Pagination
from crisiscenter.errors import ServiceError
from crisiscenter.models import Membership, Organization, Role
from monitoring import selectors as monitoring_selectors
from monitoring.models import Mention
from playbooks import incident_selectors
from playbooks.models import Incident, IncidentStatus
from responses import diff, policy, reply_services, schedule_services, selectors, services
from responses.models import (
    BUILTIN_CHANNEL_KINDS,
    Approval,
    ApprovalDecision,
    ChannelAccess,
    ChannelKind,
    Promise,
    PublicStatus,
    Publication,
    PublishingChannel,
    PublishingLockdown,
    Reply,
    ScheduledPost,
    ScheduledPostStatus,
    Statement,
    StatementKind,
    StatementStatus,
    StatementVersion,
)

MAX_ID = 2**63 - 1  # the largest id a database column holds: larger ones are refused, not sent to the database
MAX_TONE_TEXT = 20_000


# --- input ---------------------------------------------------------------------------------
class AwareDateTimeField(serializers.DateTimeField):
    """A date and time that must carry its zone: a deadline without one means something
    different to each reader (DRF would quietly read it in the server's zone)."""

    default_error_messages = {"naive": "Give the date and time with its time zone, e.g. 2026-12-04T18:00:00+01:00."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # well formed but impossible (month 13): DRF's own message follows
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


def _without_nul(value: Any, path: str = "") -> None:
    # PostgreSQL stores no NUL character in text or JSON: refuse it here rather than fail there.
    if isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError(f"{path or 'The value'} contains a NUL character.")
    if isinstance(value, dict):
        for key, item in value.items():
            _without_nul(key, path)
            _without_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _without_nul(item, f"{path}[{index}]")


class SettingsField(serializers.DictField):
    """A JSON object of channel settings, checked in detail by the channel's adapter."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        _without_nul(value)
        return value


def _id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class PromiseIn(serializers.Serializer):
    text = serializers.CharField(max_length=500)
    due_at = AwareDateTimeField()


class ContentIn(serializers.Serializer):
    """The words of a version; on an edit, only the fields sent change."""

    headline = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["headline"])
    body = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["body"])
    question = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["question"])
    what_happened = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["what_happened"])
    known = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["known"])
    unknown = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["unknown"])
    what_to_do = serializers.CharField(required=False, allow_blank=True, max_length=services.TEXT_FIELDS["what_to_do"])
    public_status = serializers.ChoiceField(choices=PublicStatus.choices, required=False)
    next_update_at = AwareDateTimeField(required=False, allow_null=True)
    promises = PromiseIn(many=True, required=False, max_length=services.MAX_PROMISES)

    CONTENT_FIELDS = ("headline", "body", "question", "what_happened", "known", "unknown", "what_to_do", "public_status", "next_update_at", "promises")

    @classmethod
    def content(cls, data: dict) -> dict[str, Any]:
        fields = {name: data[name] for name in cls.CONTENT_FIELDS if name in data}
        if "promises" in fields:
            fields["promises"] = [dict(promise) for promise in fields["promises"]]
        return fields


class _ChannelsField(serializers.ListField):
    def __init__(self, **kwargs):
        # Kinds are checked by the service, against what this organisation has.
        super().__init__(child=serializers.CharField(max_length=16), max_length=len(ChannelKind.values), **kwargs)


class StatementDraftIn(ContentIn):
    kind = serializers.ChoiceField(choices=StatementKind.choices)
    language = serializers.CharField(required=False, default="en", max_length=16)
    template_index = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=1000)
    spokesperson_id = _id_field(required=False, allow_null=True)
    target_channels = _ChannelsField(required=False, allow_null=True)
    corrects_id = _id_field(required=False, allow_null=True)


class StatementEditIn(ContentIn):
    base_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="the version number the edit started from")
    change_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    spokesperson_id = _id_field(required=False, allow_null=True, help_text="leave out to keep; null to clear")
    target_channels = _ChannelsField(required=False)


class TranslationIn(ContentIn):
    language = serializers.CharField(max_length=16)


class DecisionIn(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="the version number the approver read")
    decision = serializers.ChoiceField(choices=ApprovalDecision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    publish = serializers.BooleanField(required=False, default=False, help_text="publish at once if this approval completes the policy")


class ToneCheckIn(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TONE_TEXT, trim_whitespace=False)
    language = serializers.RegexField(services.LANGUAGE_PATTERN, required=False, default="en", max_length=16)
    kind = serializers.ChoiceField(
        choices=StatementKind.choices, required=False, allow_null=True,
        help_text="the statement kind it is for: holding statements, updates and corrections of a mistake the organisation owns must apologise",
    )


# The channels an organisation adds (the hub and e-mail exist without being added).
ACCOUNT_CHANNEL_KINDS = [(kind, ChannelKind(kind).label) for kind in ChannelKind.values if kind not in BUILTIN_CHANNEL_KINDS]


class ChannelIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ACCOUNT_CHANNEL_KINDS)
    name = serializers.CharField(max_length=120)
    config = SettingsField(required=False, default=dict)
    credentials = SettingsField(required=False, default=dict, write_only=True)


class ChannelEnabledIn(serializers.Serializer):
    is_enabled = serializers.BooleanField()


class AccessIn(serializers.Serializer):
    user_id = _id_field()
    in_lockdown = serializers.BooleanField(required=False, default=False)


class LockdownIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


def _valid(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


# --- output --------------------------------------------------------------------------------
class VersionOut(serializers.ModelSerializer):
    author = serializers.CharField(allow_null=True, default=None)
    spokesperson = serializers.CharField(allow_null=True, default=None, help_text="the spokesperson named with these words (approved with them)")

    class Meta:
        model = StatementVersion
        fields = [
            "number", "headline", "body", "question", "what_happened", "known", "unknown", "what_to_do", "public_status",
            "next_update_at", "promises", "spokesperson_id", "spokesperson", "change_note", "author_id", "author", "created_at",
        ]


class StatementOut(serializers.ModelSerializer):
    """A statement as lists show it: its current words in brief."""

    version = serializers.IntegerField(source="current_version.number", allow_null=True, default=None)
    headline = serializers.CharField(source="current_version.headline", default="")
    published_version = serializers.IntegerField(source="published_version.number", allow_null=True, default=None)
    spokesperson = serializers.CharField(allow_null=True, default=None)
    created_by = serializers.CharField(allow_null=True, default=None)
    link = serializers.SerializerMethodField(help_text="the statement's page in the app")

    class Meta:
        model = Statement
        fields = [
            "id", "incident_id", "kind", "language", "status", "version", "headline", "published_version", "target_channels",
            "spokesperson_id", "spokesperson", "translation_of_id", "corrects_id", "review_requested_at", "review_due_at",
            "first_published_at", "last_published_at", "created_by_id", "created_by", "created_at", "updated_at", "link",
        ]

    def get_link(self, statement) -> str:
        return services.statement_url(statement)


class ApprovalOut(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    approver = serializers.CharField()

    class Meta:
        model = Approval
        fields = ["id", "version", "approver_id", "approver", "decision", "comment", "roles", "created_at"]


class PublicationOut(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    channel_name = serializers.CharField(source="channel.name")

    class Meta:
        model = Publication
        fields = ["id", "version", "channel_id", "channel_name", "channel_kind", "status", "url", "error", "attempts", "next_attempt_at", "created_at", "published_at"]


class StatementLinkOut(serializers.Serializer):
    id = serializers.IntegerField()
    language = serializers.CharField()
    status = serializers.CharField()
    headline = serializers.CharField()


class ToneOut(serializers.Serializer):
    language = serializers.CharField()
    covered = serializers.BooleanField(help_text="whether the checker knows this language; if not, nothing was checked")
    require_apology = serializers.BooleanField()
    findings = serializers.ListField(
        child=serializers.DictField(), help_text="rule, label, message, start and end (offsets into field), excerpt, field (null: the whole statement)"
    )


class CanOut(serializers.Serializer):
    edit = serializers.BooleanField()
    submit = serializers.BooleanField()
    approve = serializers.BooleanField()
    publish = serializers.BooleanField()


class StatementDetailOut(StatementOut):
    current = VersionOut(source="current_version", allow_null=True)
    translation_of = StatementLinkOut(allow_null=True, source="translation_of_link")
    translations = StatementLinkOut(many=True, source="translation_links")
    corrects = StatementLinkOut(allow_null=True, source="corrects_link")
    approval_policy = serializers.JSONField(source="policy_description")
    approvals = ApprovalOut(many=True, source="current_approvals", help_text="decisions on the current version: the ones that count")
    voided_approvals = ApprovalOut(many=True, source="earlier_approvals", help_text="decisions on earlier versions: void since the words changed")
    publications = PublicationOut(many=True, source="publication_rows")
    tone = ToneOut(source="tone_report")
    can = CanOut(source="caller_can")

    class Meta(StatementOut.Meta):
        fields = [
            *StatementOut.Meta.fields, "current", "translation_of", "translations", "corrects", "approval_policy", "approvals",
            "voided_approvals", "publications", "tone", "can",
        ]


class ApprovalQueueOut(StatementOut):
    incident_title = serializers.CharField(source="incident.title")
    overdue = serializers.SerializerMethodField()

    class Meta(StatementOut.Meta):
        fields = ["id", "incident_id", "incident_title", "kind", "language", "status", "version", "headline", "review_requested_at", "review_due_at", "overdue", "link"]

    def get_overdue(self, statement) -> bool:
        return statement.review_due_at is not None and statement.review_due_at <= timezone.now()


class PromiseOut(serializers.ModelSerializer):
    kept_by = serializers.CharField(allow_null=True, default=None)

    class Meta:
        model = Promise
        fields = ["id", "incident_id", "statement_id", "text", "due_at", "status", "warned_at", "kept_at", "kept_by_id", "kept_by", "slipped_at", "created_at"]


class AccessOut(serializers.ModelSerializer):
    user = serializers.CharField()
    granted_by = serializers.CharField(allow_null=True, default=None)

    class Meta:
        model = ChannelAccess
        fields = ["id", "channel_id", "user_id", "user", "in_lockdown", "granted_by_id", "granted_by", "granted_at"]


class ChannelOut(serializers.ModelSerializer):
    """Never the credentials: only whether there are some."""

    has_credentials = serializers.SerializerMethodField()
    access = AccessOut(many=True, source="live_access", help_text="who may publish through it now (empty: managers and up)")

    class Meta:
        model = PublishingChannel
        fields = ["id", "kind", "name", "config", "has_credentials", "is_enabled", "created_at", "access"]

    def get_has_credentials(self, channel) -> bool:
        return bool(channel.credentials_encrypted)

    def to_representation(self, channel):
        data = super().to_representation(channel)
        membership = self.context.get("membership")
        if channel.kind == ChannelKind.WEBHOOK and not (membership and membership.has_role(Role.ADMIN)):
            # A webhook's path is often its secret: below admin, only its host.
            from urllib.parse import urlsplit

            data["config"] = {"url": f"https://{urlsplit(channel.config.get('url', '')).hostname or ''}/…"}
        return data


class LockdownOut(serializers.ModelSerializer):
    started_by = serializers.CharField(allow_null=True, default=None)

    class Meta:
        model = PublishingLockdown
        fields = ["id", "reason", "started_by_id", "started_by", "started_at"]


ToneCheckOut = inline_serializer(
    "ToneCheck",
    fields={
        "language": serializers.CharField(),
        "covered": serializers.BooleanField(),
        "languages_covered": serializers.DictField(child=serializers.CharField()),
        "require_apology": serializers.BooleanField(),
        "findings": serializers.ListField(child=serializers.DictField()),
        "voice_rules": inline_serializer(
            "VoiceRule", fields={"kind": serializers.CharField(), "rule": serializers.CharField(), "checked": serializers.BooleanField()}, many=True
        ),
    },
)
DiffOut = inline_serializer(
    "StatementDiff",
    fields={"from": serializers.IntegerField(allow_null=True), "to": serializers.IntegerField(), "changes": serializers.ListField(child=serializers.DictField())},
)
PublishOut = inline_serializer("PublishAccepted", fields={"status": serializers.CharField(), "publications": PublicationOut(many=True)})
LockdownStateOut = inline_serializer("LockdownState", fields={"lockdown": LockdownOut(allow_null=True)})


# --- reading helpers -----------------------------------------------------------------------
def _link(statement: Statement | None) -> dict | None:
    if statement is None:
        return None
    version = statement.current_version
    return {"id": statement.pk, "language": statement.language, "status": statement.status, "headline": version.headline if version else ""}


def _caller_can(statement: Statement, membership: Membership, review_policy: policy.ApprovalPolicy, current_approvals: list[Approval]) -> dict[str, bool]:
    version = statement.current_version
    is_responder = membership.has_role(Role.RESPONDER)
    open_incident = statement.incident.status != IncidentStatus.CLOSED
    approve = (
        statement.status == StatementStatus.IN_REVIEW
        and version is not None
        and version.author_id != membership.user_id
        and not any(approval.approver_id == membership.user_id for approval in current_approvals)
        and review_policy.may_approve(membership)
    )
    publish = statement.status == StatementStatus.APPROVED and is_responder and not services.publish_refusals(statement, membership)
    return {
        "edit": is_responder and open_incident,
        "submit": is_responder and open_incident and statement.status == StatementStatus.DRAFT,
        "approve": approve,
        "publish": publish,
    }


def statement_detail(statement: Statement, membership: Membership) -> dict:
    """The statement with everything a reader or approver needs on one screen."""
    organization = membership.organization
    fresh = selectors.statement_of(organization=organization, statement_id=statement.pk)
    approvals = list(selectors.approvals_of(statement=fresh))
    current = [approval for approval in approvals if approval.version_id == fresh.current_version_id]
    review_policy = policy.approval_policy(fresh.incident)
    fresh.translation_of_link = _link(fresh.translation_of)
    fresh.translation_links = [_link(translation) for translation in selectors.statements_of(incident=fresh.incident).filter(translation_of=fresh).order_by("language")]
    fresh.corrects_link = _link(fresh.corrects)
    fresh.policy_description = review_policy.describe()
    fresh.current_approvals = current
    fresh.earlier_approvals = [approval for approval in approvals if approval.version_id != fresh.current_version_id]
    fresh.publication_rows = list(selectors.publications_of(statement=fresh))
    fresh.tone_report = selectors.statement_tone(fresh)
    fresh.caller_can = _caller_can(fresh, membership, review_policy, current)
    return StatementDetailOut(fresh).data


def _paginated(view: APIView, request, rows, serializer_class) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context={"membership": request.membership}).data)


# --- views ---------------------------------------------------------------------------------
class _OrganizationView(APIView):
    permission_classes = [OrganizationRole]

    def incident(self, request, incident_id: int) -> Incident:
        incident = incident_selectors.incident_of(organization=request.organization, incident_id=incident_id) if incident_id <= MAX_ID else None
        if incident is None:
            raise exceptions.NotFound("No such incident.")
        return incident

    def statement(self, request, statement_id: int) -> Statement:
        statement = selectors.statement_of(organization=request.organization, statement_id=statement_id) if statement_id <= MAX_ID else None
        if statement is None:
            raise exceptions.NotFound("No such statement.")
        return statement

    def channel(self, request, channel_id: int) -> PublishingChannel:
        channel = selectors.channel_of(organization=request.organization, channel_id=channel_id) if channel_id <= MAX_ID else None
        if channel is None:
            raise exceptions.NotFound("No such channel.")
        return channel


def _choice_filter(request, name: str, choices: list[str]) -> str:
    value = request.query_params.get(name, "")
    if value and value not in choices:
        raise exceptions.ValidationError({name: [f"Choose one of: {', '.join(choices)}."]})
    return value


class StatementListApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=StatementKind.values),
            OpenApiParameter("status", str, enum=StatementStatus.values),
            OpenApiParameter("language", str, description="a language code such as en or pt-BR"),
        ],
        responses=StatementOut(many=True),
    )
    def get(self, request, slug, incident_id: int):
        statements = selectors.statements_of(incident=self.incident(request, incident_id))
        if kind := _choice_filter(request, "kind", StatementKind.values):
            statements = statements.filter(kind=kind)
        if wanted := _choice_filter(request, "status", StatementStatus.values):
            statements = statements.filter(status=wanted)
        if language := request.query_params.get("language", ""):
            if not re.fullmatch(services.LANGUAGE_PATTERN, language):
                raise exceptions.ValidationError({"language": ["Give a language code such as en or pt-BR."]})
            statements = statements.filter(language=language)
        return _paginated(self, request, statements, StatementOut)

    @extend_schema(request=StatementDraftIn, responses={201: StatementDetailOut})
    def post(self, request, slug, incident_id: int):
        incident = self.incident(request, incident_id)
        data = _valid(StatementDraftIn, request)
        statement = services.statement_draft(
            incident=incident, actor_membership=request.membership, kind=data["kind"], language=data["language"],
            template_index=data.get("template_index"), spokesperson_id=data.get("spokesperson_id"), target_channels=data.get("target_channels"),
            corrects_id=data.get("corrects_id"), fields=ContentIn.content(data),
        )
        return Response(statement_detail(statement, request.membership), status=status.HTTP_201_CREATED)


class StatementDetailApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=StatementDetailOut)
    def get(self, request, slug, statement_id: int):
        return Response(statement_detail(self.statement(request, statement_id), request.membership))


class StatementVersionListApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(responses=VersionOut(many=True), description="Newest first.")
    def get(self, request, slug, statement_id: int):
        versions = selectors.statement_versions(statement=self.statement(request, statement_id)).select_related("spokesperson")
        return _paginated(self, request, versions, VersionOut)

    @extend_schema(
        request=StatementEditIn,
        responses={201: StatementDetailOut, 200: OpenApiResponse(StatementDetailOut, description="nothing changed"), 409: OpenApiResponse(description="someone saved a newer version")},
        description="Save a new version. Only the content fields sent change; any change voids the approvals of the version before.",
    )
    def post(self, request, slug, statement_id: int):
        statement = self.statement(request, statement_id)
        data = _valid(StatementEditIn, request)
        before = statement.current_version_id
        statement = services.statement_edit(
            statement=statement, actor_membership=request.membership, base_version=data["base_version"], fields=ContentIn.content(data),
            change_note=data["change_note"], spokesperson_id=data["spokesperson_id"] if "spokesperson_id" in data else "unchanged",
            target_channels=data.get("target_channels"),
        )
        created = statement.current_version_id != before
        return Response(statement_detail(statement, request.membership), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class StatementVersionDetailApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=inline_serializer("StatementVersionDetail", fields={"version": VersionOut(), "approvals": ApprovalOut(many=True)}))
    def get(self, request, slug, statement_id: int, number: int):
        statement = self.statement(request, statement_id)
        version = selectors.statement_version(statement=statement, number=number) if number < 2**31 else None
        if version is None:
            raise exceptions.NotFound("No such version.")
        approvals = [approval for approval in selectors.approvals_of(statement=statement) if approval.version_id == version.pk]
        return Response({"version": VersionOut(version).data, "approvals": ApprovalOut(approvals, many=True).data})


def _version_number(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    # ASCII digits only: "²".isdigit() is true, int("²") is not.
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise exceptions.ValidationError({name: ["Give a version number."]})
    return int(value)


class StatementDiffApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, description="the older version (default: the one before `to`)"),
            OpenApiParameter("to", int, description="the newer version (default: the current one)"),
        ],
        responses=DiffOut,
    )
    def get(self, request, slug, statement_id: int):
        statement = self.statement(request, statement_id)
        to_number = _version_number(request, "to")
        from_number = _version_number(request, "from")
        if to_number is None:
            to_number = statement.current_version.number
        if from_number is None:
            from_number = to_number - 1
        newer = selectors.statement_version(statement=statement, number=to_number)
        older = selectors.statement_version(statement=statement, number=from_number) if from_number > 0 else None
        if newer is None or (from_number > 0 and older is None):
            raise exceptions.NotFound("No such version.")
        return Response({"from": older.number if older else None, "to": newer.number, "changes": diff.version_diff(older, newer)})


class StatementSubmitApi(_OrganizationView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=None, responses=StatementDetailOut, description="Send the current version for approval.")
    def post(self, request, slug, statement_id: int):
        statement = services.statement_submit(statement=self.statement(request, statement_id), actor_membership=request.membership)
        return Response(statement_detail(statement, request.membership))


class StatementDecisionApi(_OrganizationView):
    # Responders reach the service: holders of an approver role on the incident may decide
    # whatever their organisation role, and otherwise managers may; never the version's author.
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(
        request=DecisionIn,
        responses={
            200: StatementDetailOut,
            202: OpenApiResponse(StatementDetailOut, description="approved and published: the publications are queued"),
            409: OpenApiResponse(description="the statement changed since that version, or you already decided on it"),
        },
    )
    def post(self, request, slug, statement_id: int):
        statement = self.statement(request, statement_id)
        data = _valid(DecisionIn, request)
        statement = services.statement_decide(
            statement=statement, actor_membership=request.membership, version_number=data["version"], decision=data["decision"],
            comment=data["comment"], publish=data["publish"],
        )
        published = data["publish"] and statement.status == StatementStatus.PUBLISHED
        return Response(statement_detail(statement, request.membership), status=status.HTTP_202_ACCEPTED if published else status.HTTP_200_OK)


class StatementPublishApi(_OrganizationView):
    # Responders reach the service, which checks each channel's access list (managers and up
    # while a channel has none) and the lockdown.
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=None, responses={202: PublishOut}, description="Publish the approved current version on its channels (sent by the worker).")
    def post(self, request, slug, statement_id: int):
        publications = services.statement_publish(statement=self.statement(request, statement_id), actor_membership=request.membership)
        return Response({"status": StatementStatus.PUBLISHED, "publications": PublicationOut(publications, many=True).data}, status=status.HTTP_202_ACCEPTED)


class PublicationRetryApi(_OrganizationView):
    # Responders reach the service, which checks the channel's access list as publishing does.
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=None, responses={202: PublicationOut}, description="Send a failed publication again (only it: never the channels that succeeded).")
    def post(self, request, slug, publication_id: int):
        publication = Publication.objects.for_organization(request.organization).filter(pk=publication_id).first() if publication_id <= MAX_ID else None
        if publication is None:
            raise exceptions.NotFound("No such publication.")
        retried = services.publication_retry(publication=publication, actor_membership=request.membership)
        return Response(PublicationOut(retried).data, status=status.HTTP_202_ACCEPTED)


class StatementTranslationApi(_OrganizationView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=TranslationIn, responses={201: StatementDetailOut}, description="A translation is a statement of its own, approved on its own.")
    def post(self, request, slug, statement_id: int):
        statement = self.statement(request, statement_id)
        data = _valid(TranslationIn, request)
        translation = services.statement_translate(statement=statement, actor_membership=request.membership, language=data["language"], fields=ContentIn.content(data))
        return Response(statement_detail(translation, request.membership), status=status.HTTP_201_CREATED)


class ToneCheckApi(_OrganizationView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=ToneCheckIn, responses=ToneCheckOut, description="Check a text against the tone rules and the incident's playbook voice rules (nothing is saved).")
    def post(self, request, slug, incident_id: int):
        from responses import tone

        incident = self.incident(request, incident_id)
        data = _valid(ToneCheckIn, request)
        report = selectors.text_tone(text=data["text"], language=data["language"], incident=incident, kind=data.get("kind"))
        rules = selectors.voice_rules(incident)
        checked = set(tone.checkable_voice_rules(rules))
        return Response({
            **report,
            "languages_covered": dict(tone.LANGUAGES),
            "voice_rules": [{"kind": rule.get("kind", ""), "rule": rule.get("rule", ""), "checked": index in checked} for index, rule in enumerate(rules)],
        })


class ApprovalQueueApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=ApprovalQueueOut(many=True), description="Statements waiting for an approval the caller may give, oldest request first.")
    def get(self, request, slug):
        waiting = selectors.statements_awaiting(organization=request.organization, membership=request.membership)
        return _paginated(self, request, waiting, ApprovalQueueOut)


class PromiseListApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=PromiseOut(many=True))
    def get(self, request, slug, incident_id: int):
        return _paginated(self, request, selectors.promises_of(incident=self.incident(request, incident_id)), PromiseOut)


class PromiseKeepApi(_OrganizationView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=None, responses=PromiseOut, description="Mark the promise kept.")
    def post(self, request, slug, promise_id: int):
        promise = selectors.promise_of(organization=request.organization, promise_id=promise_id) if promise_id <= MAX_ID else None
        if promise is None:
            raise exceptions.NotFound("No such promise.")
        return Response(PromiseOut(services.promise_keep(promise=promise, actor_membership=request.membership)).data)


class ChannelListApi(_OrganizationView):
    required_roles = {"GET": Role.RESPONDER, "POST": Role.ADMIN}

    @extend_schema(responses=ChannelOut(many=True), description="The organisation's channels with who may publish through each (never their credentials).")
    def get(self, request, slug):
        # Created on a read so an admin can give the hub and e-mail an access list before the first publication.
        services.builtin_channels(request.organization.pk)
        return _paginated(self, request, selectors.channels_of(organization=request.organization), ChannelOut)

    @extend_schema(request=ChannelIn, responses={201: ChannelOut})
    def post(self, request, slug):
        data = _valid(ChannelIn, request)
        channel = services.channel_create(
            organization=request.organization, actor_membership=request.membership, kind=data["kind"], name=data["name"],
            config=data["config"], credentials=data["credentials"],
        )
        return Response(ChannelOut(self.channel(request, channel.pk), context={"membership": request.membership}).data, status=status.HTTP_201_CREATED)


class ChannelDetailApi(_OrganizationView):
    required_roles = {"GET": Role.RESPONDER, "PATCH": Role.ADMIN}

    @extend_schema(responses=ChannelOut)
    def get(self, request, slug, channel_id: int):
        return Response(ChannelOut(self.channel(request, channel_id), context={"membership": request.membership}).data)

    @extend_schema(request=ChannelEnabledIn, responses=ChannelOut, description="Switch the channel on or off.")
    def patch(self, request, slug, channel_id: int):
        channel = self.channel(request, channel_id)
        data = _valid(ChannelEnabledIn, request)
        services.channel_set_enabled(channel=channel, actor_membership=request.membership, enabled=data["is_enabled"])
        return Response(ChannelOut(self.channel(request, channel_id), context={"membership": request.membership}).data)


class ChannelAccessApi(_OrganizationView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(request=AccessIn, responses={201: AccessOut}, description="Let a member publish through the channel (in_lockdown: even during a lockdown).")
    def post(self, request, slug, channel_id: int):
        channel = self.channel(request, channel_id)
        data = _valid(AccessIn, request)
        grant = services.channel_access_grant(channel=channel, actor_membership=request.membership, user_id=data["user_id"], in_lockdown=data["in_lockdown"])
        grant = ChannelAccess.objects.for_organization(request.organization).select_related("user", "granted_by").get(pk=grant.pk)
        return Response(AccessOut(grant).data, status=status.HTTP_201_CREATED)


class ChannelAccessRevokeApi(_OrganizationView):
    required_roles = {"DELETE": Role.ADMIN}

    @extend_schema(request=None, responses={204: None}, description="Takes effect at once, also for publications not yet sent.")
    def delete(self, request, slug, channel_id: int, user_id: int):
        channel = self.channel(request, channel_id)
        if user_id > MAX_ID:
            raise exceptions.NotFound("That person is not on this channel's access list.")
        services.channel_access_revoke(channel=channel, actor_membership=request.membership, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LockdownApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.ADMIN, "DELETE": Role.ADMIN}

    @extend_schema(responses=LockdownStateOut, description="The active lockdown, or null.")
    def get(self, request, slug):
        lockdown = policy.active_lockdown(request.organization.pk)
        return Response({"lockdown": LockdownOut(lockdown).data if lockdown else None})

    @extend_schema(request=LockdownIn, responses={201: LockdownOut}, description="Only grants marked in_lockdown publish until it ends.")
    def post(self, request, slug):
        data = _valid(LockdownIn, request)
        lockdown = services.lockdown_start(organization=request.organization, actor_membership=request.membership, reason=data["reason"])
        return Response(LockdownOut(lockdown).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, slug):
        services.lockdown_end(organization=request.organization, actor_membership=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- replies, scheduled posts and the publishing policy --------------------------------------
class ReplyIn(serializers.Serializer):
    template_id = _id_field(help_text="an approved reply template of the mention's incident")
    moves_to_private = serializers.BooleanField(
        required=False, default=False,
        help_text="this reply invites the author to a private channel (DM, e-mail, phone): the one reply allowed past the per-author limit",
    )


class ReplyOut(serializers.ModelSerializer):
    template_version = serializers.IntegerField(source="template_version.number")
    channel_name = serializers.CharField(source="channel.name")
    sent_by = serializers.CharField(allow_null=True, default=None)

    class Meta:
        model = Reply
        fields = [
            "id", "mention_id", "incident_id", "template_id", "template_version", "channel_id", "channel_name", "author_handle", "text",
            "moves_to_private", "status", "attempts", "next_attempt_at", "url", "error", "sent_by_id", "sent_by", "created_at", "sent_at",
        ]


class ReplyTemplateOut(serializers.ModelSerializer):
    version = serializers.IntegerField(source="current_version.number")
    headline = serializers.CharField(source="current_version.headline")
    body = serializers.CharField(source="current_version.body", help_text="the approved wording, placeholders unfilled")
    preview = serializers.CharField(help_text="the text a reply sent now carries: {latest_update} and {hub_url} filled in")

    class Meta:
        model = Statement
        fields = ["id", "incident_id", "language", "status", "version", "headline", "body", "preview"]


class IncidentLinkOut(serializers.ModelSerializer):
    class Meta:
        model = Incident
        fields = ["id", "title", "severity", "status"]


class ScheduledPostIn(serializers.Serializer):
    channel_id = _id_field(help_text="an X, Mastodon, Bluesky or webhook channel of the organisation")
    text = serializers.CharField(max_length=schedule_services.MAX_SCHEDULED_TEXT)
    scheduled_at = AwareDateTimeField()


class ScheduledPostResumeIn(serializers.Serializer):
    scheduled_at = AwareDateTimeField(required=False, allow_null=True, help_text="a new time; leave out to keep it (a time already past goes out at the next tick)")


class ScheduledPostOut(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name")
    channel_kind = serializers.CharField(source="channel.kind")
    paused_for = IncidentLinkOut(allow_null=True, help_text="the incident it was paused for")
    created_by = serializers.CharField(allow_null=True, default=None)

    class Meta:
        model = ScheduledPost
        fields = [
            "id", "channel_id", "channel_name", "channel_kind", "text", "scheduled_at", "status", "pause_reason", "paused_at", "paused_for",
            "attempts", "url", "error", "created_by_id", "created_by", "created_at", "sent_at",
        ]


class PublishingPolicyIn(serializers.Serializer):
    pause_scheduled_at_severity = serializers.IntegerField(
        required=False, min_value=1, max_value=4, help_text="scheduled posts pause while an incident this severe or worse is open (1 is the most severe)",
    )
    replies_per_author = serializers.IntegerField(
        required=False, min_value=1, max_value=20, help_text="public replies to one author per incident before the conversation moves to a private channel",
    )


class PublishingPolicyOut(serializers.Serializer):
    pause_scheduled_at_severity = serializers.IntegerField()
    replies_per_author = serializers.IntegerField()
    updated_by = serializers.CharField(allow_null=True, default=None)
    updated_at = serializers.DateTimeField()
    pausing_incident = IncidentLinkOut(allow_null=True, help_text="the open incident that keeps scheduled posts paused now, if any")


def publishing_policy_data(organization: Organization) -> dict:
    current = reply_services.publishing_policy(organization.pk)
    current.pausing_incident = schedule_services.pausing_incident(organization.pk)
    return PublishingPolicyOut(current).data


class _ReplyingView(_OrganizationView):
    def mention(self, request, mention_id: int) -> Mention:
        mention = monitoring_selectors.mention_of(organization_id=request.organization.pk, mention_id=mention_id) if mention_id <= MAX_ID else None
        if mention is None:
            raise exceptions.NotFound("No such mention.")
        return mention

    def scheduled_post(self, request, post_id: int) -> ScheduledPost:
        post = selectors.scheduled_posts_of(request.organization.pk).filter(pk=post_id).first() if post_id <= MAX_ID else None
        if post is None:
            raise exceptions.NotFound("No such scheduled post.")
        return post


class MentionReplyListApi(_ReplyingView):
    # Responders reach the service, which checks the channel's access list (managers and up
    # while it has none), the template's approval and the per-author limit.
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(responses=ReplyOut(many=True), description="The replies recorded on the mention, newest first.")
    def get(self, request, slug, mention_id: int):
        return _paginated(self, request, selectors.replies_on(self.mention(request, mention_id)), ReplyOut)

    @extend_schema(
        request=ReplyIn,
        responses={
            202: OpenApiResponse(ReplyOut, description="queued: the worker sends it as a reply to the post and records the outcome"),
            400: OpenApiResponse(description="code reply_limit (with `replies` and `limit`), not_approved, not_replyable or no_channel"),
            403: OpenApiResponse(description="code publishing_not_allowed: not on the channel's access list (or not a manager while it has none)"),
            409: OpenApiResponse(description="code claimed_by_someone_else"),
        },
    )
    def post(self, request, slug, mention_id: int):
        mention = self.mention(request, mention_id)
        data = _valid(ReplyIn, request)
        template = selectors.statement_of(organization=request.organization, statement_id=data["template_id"])
        if template is None:
            raise ServiceError("Choose one of the reply templates of the mention's incident.", field="template_id")
        reply = reply_services.reply_send(mention=mention, actor_membership=request.membership, template=template, moves_to_private=data["moves_to_private"])
        return Response(ReplyOut(selectors.replies_on(mention).get(pk=reply.pk)).data, status=status.HTTP_202_ACCEPTED)


class ReplyTemplateListApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=ReplyTemplateOut(many=True), description="The incident's reply templates usable now (approved in their current wording), with the text a reply would carry.")
    def get(self, request, slug, incident_id: int):
        return _paginated(self, request, selectors.usable_reply_templates(self.incident(request, incident_id)), ReplyTemplateOut)


class ScheduledPostListApi(_ReplyingView):
    # Responders reach the service, which checks the channel's access list.
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=ScheduledPostStatus.values)], responses=ScheduledPostOut(many=True),
                   description="The queue, earliest first.")
    def get(self, request, slug):
        posts = selectors.scheduled_posts_of(request.organization.pk)
        if wanted := _choice_filter(request, "status", ScheduledPostStatus.values):
            posts = posts.filter(status=wanted)
        return _paginated(self, request, posts, ScheduledPostOut)

    @extend_schema(request=ScheduledPostIn, responses={201: ScheduledPostOut}, description="Queued, or paused at once while a serious incident is open.")
    def post(self, request, slug):
        data = _valid(ScheduledPostIn, request)
        post = schedule_services.scheduled_post_create(
            organization=request.organization, actor_membership=request.membership, channel_id=data["channel_id"], text=data["text"],
            scheduled_at=data["scheduled_at"],
        )
        return Response(ScheduledPostOut(self.scheduled_post(request, post.pk)).data, status=status.HTTP_201_CREATED)


class ScheduledPostCancelApi(_ReplyingView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=None, responses=ScheduledPostOut)
    def post(self, request, slug, post_id: int):
        post = schedule_services.scheduled_post_cancel(post=self.scheduled_post(request, post_id), actor_membership=request.membership)
        return Response(ScheduledPostOut(self.scheduled_post(request, post.pk)).data)


class ScheduledPostResumeApi(_ReplyingView):
    required_roles = {"POST": Role.MANAGER}

    @extend_schema(
        request=ScheduledPostResumeIn, responses={200: ScheduledPostOut, 400: OpenApiResponse(description="code crisis_active while the incident is still open, or not_paused")},
        description="After review, back in the queue.",
    )
    def post(self, request, slug, post_id: int):
        post = self.scheduled_post(request, post_id)
        data = _valid(ScheduledPostResumeIn, request)
        post = schedule_services.scheduled_post_resume(post=post, actor_membership=request.membership, scheduled_at=data.get("scheduled_at"))
        return Response(ScheduledPostOut(self.scheduled_post(request, post.pk)).data)


class PublishingPolicyApi(_OrganizationView):
    required_roles = {"GET": Role.VIEWER, "PATCH": Role.ADMIN}

    @extend_schema(responses=PublishingPolicyOut)
    def get(self, request, slug):
        return Response(publishing_policy_data(request.organization))

    @extend_schema(request=PublishingPolicyIn, responses=PublishingPolicyOut, description="Only the fields sent change.")
    def patch(self, request, slug):
        data = _valid(PublishingPolicyIn, request)
        current = reply_services.publishing_policy(request.organization.pk)
        reply_services.policy_update(
            organization=request.organization, actor_membership=request.membership,
            pause_scheduled_at_severity=data.get("pause_scheduled_at_severity", current.pause_scheduled_at_severity),
            replies_per_author=data.get("replies_per_author", current.replies_per_author),
        )
        return Response(publishing_policy_data(request.organization))
