"""API v1 for monitoring: sources and their health, watches, the webhook intake, file imports
and drills, the shared inbox (triage), rumours, authors and volume series."""

from __future__ import annotations

import json

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from crisiscenter.api_support import OrganizationRole
from crisiscenter.errors import ServiceError
from crisiscenter.models import Membership, Organization, Role
from monitoring import imports, inbox_services, selectors, services, spike_alerts, spike_services, war_room
from monitoring.models import IngestJob, JobKind, Mention, MentionNote, MentionStatus, RejectedItem, Rumour, RumourStatus, Source, SourceKind, SpikeSensitivity, SpikeStatus, Watch
from playbooks import incident_selectors


def _valid(serializer_class, request):
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


def _number(request, name: str, default: int, *, minimum: int = 0, maximum: int = selectors.MAX_ID) -> int:
    value = request.query_params.get(name, "")
    if not value:
        return default
    try:
        number = selectors.whole_number(value, name, maximum=maximum)
    except selectors.FilterError as error:
        raise exceptions.ValidationError({error.field: [error.message]}) from None
    if number < minimum:
        raise exceptions.ValidationError({name: [f"must be at least {minimum}"]})
    return number


def _filters(request) -> selectors.InboxFilters:
    try:
        return selectors.InboxFilters.from_query(request.query_params)
    except selectors.FilterError as error:
        raise exceptions.ValidationError({error.field: [error.message]}) from None


# --- sources -----------------------------------------------------------------------------


class SourceOut(serializers.ModelSerializer):
    health = serializers.CharField()
    quota_fraction = serializers.FloatField(allow_null=True)

    class Meta:
        model = Source
        fields = [
            "id", "name", "kind", "is_enabled", "config", "poll_interval_seconds", "health", "last_polled_at", "last_success_at",
            "last_error", "last_error_at", "consecutive_failures", "next_poll_at", "quota_period", "quota_used", "quota_cap",
            "quota_fraction", "rate_limit", "mentions_stored", "created_at",
        ]


class SourceCreatedOut(SourceOut):
    webhook_secret = serializers.CharField(allow_null=True, help_text="Shown once, for webhook sources: sign bodies with it.")
    webhook_url = serializers.CharField(allow_null=True)

    class Meta(SourceOut.Meta):
        fields = [*SourceOut.Meta.fields, "webhook_secret", "webhook_url"]


class SourceIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    config = serializers.DictField(required=False, default=dict)
    credentials = serializers.DictField(required=False, default=dict, write_only=True)
    poll_interval_seconds = serializers.IntegerField(required=False, default=120, min_value=1, max_value=86400)
    quota_cap = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class SourceUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    is_enabled = serializers.BooleanField(required=False)
    config = serializers.DictField(required=False)
    credentials = serializers.DictField(required=False, write_only=True)
    poll_interval_seconds = serializers.IntegerField(required=False, min_value=1, max_value=86400)
    quota_cap = serializers.IntegerField(required=False, allow_null=True, min_value=1)


def webhook_path(source: Source, organization: Organization) -> str:
    return f"/api/v1/organizations/{organization.slug}/sources/{source.pk}/webhook/"


class _MonitoringView(APIView):
    permission_classes = [OrganizationRole]

    def source(self, request, source_id: int) -> Source:
        source = selectors.source_of(organization_id=request.organization.pk, source_id=source_id)
        if source is None:
            raise exceptions.NotFound("No such source.")
        return source

    def mention(self, request, mention_id: int) -> Mention:
        mention = selectors.mention_of(organization_id=request.organization.pk, mention_id=mention_id)
        if mention is None:
            raise exceptions.NotFound("No such mention.")
        return mention

    def incident(self, request, incident_id):
        if incident_id is None:
            return None
        incident = incident_selectors.incident_of(organization=request.organization, incident_id=incident_id)
        if incident is None:
            raise exceptions.ValidationError({"incident_id": ["No such incident."]})
        return incident

    def member(self, request, user_id):
        if user_id is None:
            return None
        membership = Membership.objects.for_organization(request.organization).select_related("user").filter(user_id=user_id).first()
        if membership is None:
            raise exceptions.ValidationError({"assignee_id": ["Not a member of this organisation."]})
        return membership.user


class SourceListApi(_MonitoringView):
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}

    @extend_schema(responses=SourceOut(many=True))
    def get(self, request, slug):
        return Response(SourceOut(selectors.sources_of(organization_id=request.organization.pk), many=True).data)

    @extend_schema(request=SourceIn, responses={201: SourceCreatedOut})
    def post(self, request, slug):
        data = _valid(SourceIn, request)
        source, secret = services.source_create(organization=request.organization, actor_membership=request.membership, **data)
        body = SourceOut(source).data
        body["webhook_secret"] = secret
        body["webhook_url"] = webhook_path(source, request.organization) if source.kind == SourceKind.WEBHOOK else None
        return Response(body, status=status.HTTP_201_CREATED)


class SourceDetailApi(_MonitoringView):
    required_roles = {"GET": Role.ADMIN, "PATCH": Role.ADMIN}

    @extend_schema(responses=SourceOut)
    def get(self, request, slug, source_id: int):
        return Response(SourceOut(self.source(request, source_id)).data)

    @extend_schema(request=SourceUpdateIn, responses=SourceOut)
    def patch(self, request, slug, source_id: int):
        data = _valid(SourceUpdateIn, request)
        source = services.source_update(source=self.source(request, source_id), actor_membership=request.membership, **data)
        return Response(SourceOut(source).data)


class SourceRotateSecretApi(_MonitoringView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(request=None, responses=inline_serializer("WebhookSecret", fields={"webhook_secret": serializers.CharField()}))
    def post(self, request, slug, source_id: int):
        secret = services.source_rotate_webhook_secret(source=self.source(request, source_id), actor_membership=request.membership)
        return Response({"webhook_secret": secret})


class SourcePollNowApi(_MonitoringView):
    """Ask for a poll as soon as a worker is free (it still never runs twice at once)."""

    required_roles = {"POST": Role.ADMIN}

    @extend_schema(request=None, responses={202: SourceOut})
    def post(self, request, slug, source_id: int):
        source = services.source_poll_now(source=self.source(request, source_id), actor_membership=request.membership)
        return Response(SourceOut(source).data, status=status.HTTP_202_ACCEPTED)


class WebhookThrottle(AnonRateThrottle):
    scope = "webhook"
    rate = "600/min"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"source-{view.kwargs.get('source_id')}"}


class WebhookIntakeApi(APIView):
    """Any monitoring tool may POST mentions here: one object, a JSON list, or
    ``{"mentions": [...]}`` (at most 1,000), each in the draft shape (``external_id``, ``text``,
    ``posted_at`` required). Sign the exact body: header ``X-Signature-256: sha256=<hex
    HMAC-SHA256 of the body with the source's secret>``. Answers 202 once the batch is queued;
    items that fail validation are stored as rejected with their reason, never the batch."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookThrottle]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="webhook_intake",
        auth=[],
        parameters=[OpenApiParameter("X-Signature-256", str, OpenApiParameter.HEADER, required=True, description="sha256=<hex HMAC-SHA256 of the raw body>")],
        request=inline_serializer(
            "WebhookMentions",
            fields={"mentions": serializers.ListField(child=serializers.DictField(), help_text="Drafts: external_id, text, posted_at (ISO 8601), url, author_handle, …")},
        ),
        responses={202: inline_serializer("WebhookAccepted", fields={"accepted": serializers.IntegerField()})},
    )
    def post(self, request, slug, source_id: int):
        organization = Organization.objects.filter(slug=slug).first()
        source = Source.objects.for_organization(organization).filter(pk=source_id).first() if organization else None
        if source is None:
            raise exceptions.NotFound("No such webhook.")
        body = request.body  # the exact bytes that were signed
        services.webhook_verify(source=source, body=body, signature=request.headers.get("X-Signature-256", ""))
        items = services.webhook_items(body)
        from monitoring import tasks

        try:
            tasks.ingest_mentions.delay(source.pk, items)
        except Exception:  # the broker is down: say so, the sender retries; nothing is half-stored
            return Response({"error": {"status": 503, "code": "unavailable", "message": "Cannot queue mentions right now; retry."}}, status=503)
        return Response({"accepted": len(items)}, status=status.HTTP_202_ACCEPTED)


# --- watches -----------------------------------------------------------------------------


class WatchOut(serializers.ModelSerializer):
    x_query = serializers.SerializerMethodField()

    class Meta:
        model = Watch
        fields = ["id", "name", "query", "language", "is_active", "spike_sensitivity", "x_query", "created_at"]

    def get_x_query(self, watch) -> str | None:
        from monitoring import queries

        try:
            return queries.parse(watch.query).to_x(language=watch.language)
        except queries.QueryError:
            return None


class WatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    query = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=8, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False, default=True)
    spike_sensitivity = serializers.ChoiceField(choices=SpikeSensitivity.choices, required=False, default=SpikeSensitivity.NORMAL)


class WatchListApi(_MonitoringView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.ADMIN}

    @extend_schema(responses=WatchOut(many=True))
    def get(self, request, slug):
        return Response(WatchOut(selectors.watches_of(organization_id=request.organization.pk), many=True).data)

    @extend_schema(request=WatchIn, responses={201: WatchOut})
    def post(self, request, slug):
        watch = services.watch_save(organization=request.organization, actor_membership=request.membership, **_valid(WatchIn, request))
        return Response(WatchOut(watch).data, status=status.HTTP_201_CREATED)


class WatchDetailApi(_MonitoringView):
    required_roles = {"GET": Role.VIEWER, "PUT": Role.ADMIN}

    def watch(self, request, watch_id: int) -> Watch:
        watch = selectors.watch_of(organization_id=request.organization.pk, watch_id=watch_id)
        if watch is None:
            raise exceptions.NotFound("No such watch.")
        return watch

    @extend_schema(responses=WatchOut)
    def get(self, request, slug, watch_id: int):
        return Response(WatchOut(self.watch(request, watch_id)).data)

    @extend_schema(request=WatchIn, responses=WatchOut)
    def put(self, request, slug, watch_id: int):
        watch = self.watch(request, watch_id)
        watch = services.watch_save(organization=request.organization, actor_membership=request.membership, watch=watch, **_valid(WatchIn, request))
        return Response(WatchOut(watch).data)


# --- mentions ----------------------------------------------------------------------------


class MentionOut(serializers.ModelSerializer):
    source = serializers.SerializerMethodField()
    assignee = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    watch_ids = serializers.SerializerMethodField()

    class Meta:
        model = Mention
        fields = [
            "id", "source", "external_id", "url", "author_handle", "author_name", "author_followers", "author_verified", "text",
            "language", "posted_at", "received_at", "likes", "reposts", "replies", "reply_to_id", "conversation_id",
            "sentiment", "sentiment_label", "sentiment_method", "reach", "status", "assignee", "claimed_at", "incident_id",
            "tags", "watch_ids",
        ]

    def get_source(self, mention) -> dict:
        return {"id": mention.source_id, "name": mention.source.name, "kind": mention.source.kind}

    def get_assignee(self, mention) -> dict | None:
        return {"id": mention.assignee_id, "name": str(mention.assignee)} if mention.assignee_id else None

    def get_tags(self, mention) -> list[str]:
        return sorted(tag.name for tag in mention.tags.all())

    def get_watch_ids(self, mention) -> list[int]:
        return sorted(watch.pk for watch in mention.watches.all())


class MentionNoteOut(serializers.ModelSerializer):
    class Meta:
        model = MentionNote
        fields = ["id", "author_id", "author_label", "text", "created_at"]


class MentionPageOut(serializers.Serializer):
    results = MentionOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


INBOX_PARAMETERS = [
    OpenApiParameter("watch", int), OpenApiParameter("source", int), OpenApiParameter("sentiment", str, enum=["positive", "neutral", "negative"]),
    OpenApiParameter("language", str), OpenApiParameter("min_reach", int),
    OpenApiParameter("status", str, enum=["open", *MentionStatus.values]), OpenApiParameter("assignee", str, description="me, none or a user id"),
    OpenApiParameter("tag", str), OpenApiParameter("incident", int), OpenApiParameter("since", str), OpenApiParameter("until", str),
    OpenApiParameter("q", str, description="full-text search"), OpenApiParameter("cursor", str), OpenApiParameter("limit", int),
    OpenApiParameter("ids", str, description="comma-separated ids: only these (for live updates)"),
]


class MentionListApi(_MonitoringView):
    """The shared inbox, newest first, with keyset pagination (``next_cursor``); no totals."""

    required_roles = {"GET": Role.VIEWER}

    @extend_schema(operation_id="mentions_list", parameters=INBOX_PARAMETERS, responses=MentionPageOut)
    def get(self, request, slug):
        filters = _filters(request)
        limit = _number(request, "limit", selectors.PAGE_SIZE, minimum=1)
        ids = request.query_params.get("ids", "")
        if ids:
            try:
                wanted = [selectors.whole_number(part, "ids") for part in ids.split(",") if part.strip()]
            except selectors.FilterError:
                raise exceptions.ValidationError({"ids": ["must be comma-separated mention ids"]}) from None
            rows = selectors.mentions_by_ids(organization_id=request.organization.pk, filters=filters, ids=wanted, user_id=request.user.pk)
            return Response({"results": MentionOut(rows, many=True).data, "next_cursor": None})
        try:
            rows, next_cursor = selectors.inbox_page(
                organization_id=request.organization.pk, filters=filters, user_id=request.user.pk,
                cursor=request.query_params.get("cursor", ""), limit=limit,
            )
        except selectors.FilterError as error:
            raise exceptions.ValidationError({error.field: [error.message]}) from None
        return Response({"results": MentionOut(rows, many=True).data, "next_cursor": next_cursor})


class MentionDetailApi(_MonitoringView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=inline_serializer("MentionDetail", fields={"mention": MentionOut(), "notes": MentionNoteOut(many=True)}))
    def get(self, request, slug, mention_id: int):
        mention = self.mention(request, mention_id)
        return Response({"mention": MentionOut(mention).data, "notes": MentionNoteOut(selectors.mention_notes(mention=mention), many=True).data})


class _MentionActionApi(_MonitoringView):
    required_roles = {"POST": Role.RESPONDER}

    def respond(self, request, mention_id: int) -> Response:
        return Response(MentionOut(self.mention(request, mention_id)).data)


class MentionClaimApi(_MentionActionApi):
    """Take the mention; 409 if someone else holds it (the body names them)."""

    @extend_schema(request=None, responses=MentionOut)
    def post(self, request, slug, mention_id: int):
        inbox_services.mention_claim(mention=self.mention(request, mention_id), actor_membership=request.membership)
        return self.respond(request, mention_id)


class MentionReleaseApi(_MentionActionApi):
    @extend_schema(request=None, responses=MentionOut)
    def post(self, request, slug, mention_id: int):
        inbox_services.mention_release(mention=self.mention(request, mention_id), actor_membership=request.membership)
        return self.respond(request, mention_id)


class MentionStatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=MentionStatus.choices)


class MentionStatusApi(_MentionActionApi):
    @extend_schema(request=MentionStatusIn, responses=MentionOut)
    def post(self, request, slug, mention_id: int):
        data = _valid(MentionStatusIn, request)
        inbox_services.mention_set_status(mention=self.mention(request, mention_id), actor_membership=request.membership, status=data["status"])
        return self.respond(request, mention_id)


class MentionAssignIn(serializers.Serializer):
    assignee_id = serializers.IntegerField(allow_null=True)


class MentionAssignApi(_MentionActionApi):
    required_roles = {"POST": Role.MANAGER}

    @extend_schema(request=MentionAssignIn, responses=MentionOut)
    def post(self, request, slug, mention_id: int):
        data = _valid(MentionAssignIn, request)
        inbox_services.mention_assign(mention=self.mention(request, mention_id), actor_membership=request.membership, assignee=self.member(request, data["assignee_id"]))
        return self.respond(request, mention_id)


class MentionTagsIn(serializers.Serializer):
    add = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list, max_length=20)
    remove = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list, max_length=20)


class MentionTagsApi(_MentionActionApi):
    @extend_schema(request=MentionTagsIn, responses=MentionOut)
    def post(self, request, slug, mention_id: int):
        data = _valid(MentionTagsIn, request)
        inbox_services.mention_tag(mention=self.mention(request, mention_id), actor_membership=request.membership, add=data["add"], remove=data["remove"])
        return self.respond(request, mention_id)


class MentionNoteIn(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class MentionNotesApi(_MentionActionApi):
    @extend_schema(request=MentionNoteIn, responses={201: MentionNoteOut})
    def post(self, request, slug, mention_id: int):
        data = _valid(MentionNoteIn, request)
        note = inbox_services.mention_note_add(mention=self.mention(request, mention_id), actor_membership=request.membership, text=data["text"])
        return Response(MentionNoteOut(note).data, status=status.HTTP_201_CREATED)


class MentionIncidentIn(serializers.Serializer):
    incident_id = serializers.IntegerField(allow_null=True)


class MentionIncidentApi(_MentionActionApi):
    @extend_schema(request=MentionIncidentIn, responses=MentionOut)
    def post(self, request, slug, mention_id: int):
        data = _valid(MentionIncidentIn, request)
        inbox_services.mention_link_incident(mention=self.mention(request, mention_id), actor_membership=request.membership, incident=self.incident(request, data["incident_id"]))
        return self.respond(request, mention_id)


class MentionBulkIn(serializers.Serializer):
    mention_ids = serializers.ListField(child=serializers.IntegerField(), max_length=inbox_services.MAX_BULK, allow_empty=False)
    action = serializers.ChoiceField(choices=inbox_services.BulkAction.CHOICES)
    status = serializers.ChoiceField(choices=MentionStatus.choices, required=False)
    tag = serializers.CharField(max_length=40, required=False)
    incident_id = serializers.IntegerField(required=False, allow_null=True)
    assignee_id = serializers.IntegerField(required=False, allow_null=True)

    def validate(self, data):
        needs = {"status": "status", "tag": "tag", "untag": "tag"}.get(data["action"])
        if needs and not data.get(needs):
            raise serializers.ValidationError({needs: [f"The {data['action']} action needs a {needs}."]})
        return data


class MentionBulkApi(_MonitoringView):
    """One action on up to 500 mentions; each succeeds or is skipped with its reason."""

    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(
        request=MentionBulkIn,
        responses=inline_serializer("MentionBulkOut", fields={"done": serializers.ListField(child=serializers.IntegerField()), "skipped": serializers.ListField(child=serializers.DictField())}),
    )
    def post(self, request, slug):
        data = _valid(MentionBulkIn, request)
        result = inbox_services.mentions_bulk(
            organization_id=request.organization.pk, actor_membership=request.membership, mention_ids=data["mention_ids"], action=data["action"],
            status=data.get("status", ""), tag=data.get("tag", ""), incident=self.incident(request, data.get("incident_id")),
            assignee=self.member(request, data.get("assignee_id")),
        )
        return Response(result)


class MentionExportApi(_MonitoringView):
    """The filtered inbox as JSON lines in the project's export format (re-importable, replayable)."""

    required_roles = {"GET": Role.MANAGER}

    @extend_schema(parameters=INBOX_PARAMETERS[:-3], responses={(200, "application/x-ndjson"): str})
    def get(self, request, slug):
        filters = _filters(request)
        queryset = selectors.inbox_mentions(organization_id=request.organization.pk, filters=filters, user_id=request.user.pk).prefetch_related(None)
        lines = (imports.export_line(mention) + "\n" for mention in queryset.iterator(chunk_size=2000))
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{request.organization.slug}-mentions.jsonl"'
        return response


# --- imports and drills ------------------------------------------------------------------


class IngestJobOut(serializers.ModelSerializer):
    progress = serializers.FloatField()

    class Meta:
        model = IngestJob
        fields = [
            "id", "kind", "file_name", "file_format", "speed", "status", "total", "position", "stored", "duplicates", "rejected",
            "progress", "error", "created_at", "started_at", "finished_at",
        ]


class RejectedItemOut(serializers.ModelSerializer):
    class Meta:
        model = RejectedItem
        fields = ["id", "line", "external_id", "reason", "payload", "received_at"]


class IngestJobListApi(_MonitoringView):
    """Upload a file (multipart ``file``) to import it (``kind=file``) or replay it as a drill
    (``kind=drill``, ``speed`` × real time). CSV needs ``column_mapping``: a JSON object from
    field (text, posted_at, external_id, author_handle, …) to column name."""

    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=IngestJobOut(many=True))
    def get(self, request, slug):
        return Response(IngestJobOut(selectors.jobs_of(organization_id=request.organization.pk)[:100], many=True).data)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("IngestJobIn", fields={
            "file": serializers.FileField(), "kind": serializers.ChoiceField(choices=JobKind.choices),
            "file_format": serializers.ChoiceField(choices=imports.FileFormat.CHOICES, required=False),
            "column_mapping": serializers.CharField(required=False, help_text="JSON object: field → column"),
            "speed": serializers.FloatField(required=False),
        })},
        responses={201: IngestJobOut},
    )
    def post(self, request, slug):
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": ["Attach the file as 'file'."]})
        if upload.size > imports.MAX_FILE_BYTES:
            raise exceptions.ValidationError({"file": [f"The file is larger than {imports.MAX_FILE_BYTES // (1024 * 1024)} MB."]})
        mapping_text = request.data.get("column_mapping") or "{}"
        try:
            mapping = json.loads(mapping_text)
        except ValueError:
            raise exceptions.ValidationError({"column_mapping": ["must be a JSON object"]}) from None
        speed_text = request.data.get("speed") or "60"
        try:
            speed = float(speed_text)
        except ValueError:
            raise exceptions.ValidationError({"speed": ["must be a number"]}) from None
        job = services.job_create(
            organization=request.organization, actor_membership=request.membership, kind=request.data.get("kind", JobKind.FILE),
            file_name=upload.name or "upload", content=upload.read(), file_format=request.data.get("file_format") or None,
            column_mapping=mapping, speed=speed,
        )
        return Response(IngestJobOut(job).data, status=status.HTTP_201_CREATED)


class _JobView(_MonitoringView):
    def job(self, request, job_id: int) -> IngestJob:
        job = selectors.job_of(organization_id=request.organization.pk, job_id=job_id)
        if job is None:
            raise exceptions.NotFound("No such import.")
        return job


class IngestJobDetailApi(_JobView):
    required_roles = {"GET": Role.ADMIN}

    @extend_schema(responses=inline_serializer("IngestJobDetail", fields={"job": IngestJobOut(), "rejected": RejectedItemOut(many=True)}))
    def get(self, request, slug, job_id: int):
        job = self.job(request, job_id)
        rejected = selectors.rejected_items(organization_id=request.organization.pk, job_id=job.pk)[:500]
        return Response({"job": IngestJobOut(job).data, "rejected": RejectedItemOut(rejected, many=True).data})


class IngestJobCancelApi(_JobView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(request=None, responses=IngestJobOut)
    def post(self, request, slug, job_id: int):
        job = services.job_cancel(job=self.job(request, job_id), actor_membership=request.membership)
        return Response(IngestJobOut(job).data)


# --- rumours, authors, volume ------------------------------------------------------------


class RumourOut(serializers.ModelSerializer):
    carriers = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Rumour
        fields = ["id", "claim", "status", "incident_id", "facts", "correction", "corrected_at", "carriers", "created_at", "updated_at"]


class RumourIn(serializers.Serializer):
    claim = serializers.CharField(max_length=500)
    status = serializers.ChoiceField(choices=RumourStatus.choices, required=False, default=RumourStatus.UNVERIFIED)
    facts = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)
    incident_id = serializers.IntegerField(required=False, allow_null=True)


class RumourMentionsIn(serializers.Serializer):
    mention_ids = serializers.ListField(child=serializers.IntegerField(), max_length=inbox_services.MAX_BULK, allow_empty=False)
    detach = serializers.BooleanField(required=False, default=False)


class RumourCorrectIn(serializers.Serializer):
    correction = serializers.CharField(max_length=4000)


class _RumourView(_MonitoringView):
    def rumour(self, request, rumour_id: int) -> Rumour:
        rumour = selectors.rumour_of(organization_id=request.organization.pk, rumour_id=rumour_id)
        if rumour is None:
            raise exceptions.NotFound("No such rumour.")
        return rumour


class RumourListApi(_RumourView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(responses=RumourOut(many=True))
    def get(self, request, slug):
        return Response(RumourOut(selectors.rumours_of(organization_id=request.organization.pk)[:200], many=True).data)

    @extend_schema(request=RumourIn, responses={201: RumourOut})
    def post(self, request, slug):
        data = _valid(RumourIn, request)
        rumour = inbox_services.rumour_save(
            actor_membership=request.membership, claim=data["claim"], status=data["status"], facts=data["facts"], incident=self.incident(request, data.get("incident_id"))
        )
        return Response(RumourOut(self.rumour(request, rumour.pk)).data, status=status.HTTP_201_CREATED)


class RumourDetailApi(_RumourView):
    required_roles = {"GET": Role.VIEWER, "PUT": Role.RESPONDER}

    @extend_schema(responses=inline_serializer("RumourDetail", fields={"rumour": RumourOut(), "mentions": MentionOut(many=True)}))
    def get(self, request, slug, rumour_id: int):
        rumour = self.rumour(request, rumour_id)
        mentions = rumour.mentions.select_related("source", "assignee").prefetch_related("tags", "watches").order_by("-posted_at")[:200]
        return Response({"rumour": RumourOut(rumour).data, "mentions": MentionOut(mentions, many=True).data})

    @extend_schema(request=RumourIn, responses=RumourOut)
    def put(self, request, slug, rumour_id: int):
        data = _valid(RumourIn, request)
        inbox_services.rumour_save(
            actor_membership=request.membership, rumour=self.rumour(request, rumour_id), claim=data["claim"], status=data["status"],
            facts=data["facts"], incident=self.incident(request, data.get("incident_id")),
        )
        return Response(RumourOut(self.rumour(request, rumour_id)).data)


class RumourMentionsApi(_RumourView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=RumourMentionsIn, responses=RumourOut)
    def post(self, request, slug, rumour_id: int):
        data = _valid(RumourMentionsIn, request)
        inbox_services.rumour_attach(rumour=self.rumour(request, rumour_id), actor_membership=request.membership, mention_ids=data["mention_ids"], detach=data["detach"])
        return Response(RumourOut(self.rumour(request, rumour_id)).data)


class RumourCorrectApi(_RumourView):
    required_roles = {"POST": Role.MANAGER}

    @extend_schema(request=RumourCorrectIn, responses=RumourOut)
    def post(self, request, slug, rumour_id: int):
        data = _valid(RumourCorrectIn, request)
        inbox_services.rumour_correct(rumour=self.rumour(request, rumour_id), actor_membership=request.membership, correction=data["correction"])
        return Response(RumourOut(self.rumour(request, rumour_id)).data)


class AuthorOut(serializers.Serializer):
    author_handle = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    mentions = serializers.IntegerField()
    negative = serializers.IntegerField()
    reach = serializers.IntegerField(allow_null=True)
    followers = serializers.IntegerField(allow_null=True)
    last_posted_at = serializers.DateTimeField(allow_null=True)


class AuthorListApi(_MonitoringView):
    """Influencers (``order=reach``) and detractors (``order=negative``), for one incident or
    the last 7 days (``since`` to widen)."""

    required_roles = {"GET": Role.VIEWER}

    @extend_schema(
        parameters=[OpenApiParameter("incident", int), OpenApiParameter("order", str, enum=["reach", "negative"]), OpenApiParameter("since", str), OpenApiParameter("limit", int)],
        responses=AuthorOut(many=True),
    )
    def get(self, request, slug):
        params = request.query_params
        filters = _filters(request)
        order = params.get("order", "reach")
        if order not in ("reach", "negative"):
            raise exceptions.ValidationError({"order": ["must be reach or negative"]})
        limit = _number(request, "limit", 20, minimum=1)
        rows = selectors.authors(organization_id=request.organization.pk, incident_id=filters.incident, since=filters.since, order=order, limit=limit)
        return Response(AuthorOut(rows, many=True).data)


class AuthorDetailApi(_MonitoringView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=inline_serializer("AuthorHistory", fields={
        "author_handle": serializers.CharField(), "mentions": serializers.IntegerField(), "negative": serializers.IntegerField(),
        "reach": serializers.IntegerField(allow_null=True), "followers": serializers.IntegerField(allow_null=True),
        "incidents": serializers.ListField(child=serializers.DictField()), "recent": MentionOut(many=True),
    }))
    def get(self, request, slug, handle: str):
        if "\x00" in handle:
            raise exceptions.NotFound("No mentions by this author.")
        history = selectors.author_history(organization_id=request.organization.pk, author_handle=handle)
        if not history["mentions"]:
            raise exceptions.NotFound("No mentions by this author.")
        history["recent"] = MentionOut(history["recent"], many=True).data
        return Response(history)


class VolumeBucketOut(serializers.Serializer):
    minute = serializers.DateTimeField(help_text="the bucket's start")
    resolution = serializers.IntegerField(help_text="minutes a bucket: 1, 5 or 60")
    mentions = serializers.IntegerField()
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()
    average_sentiment = serializers.FloatField()
    reach_sum = serializers.IntegerField()


class VolumeApi(_MonitoringView):
    """Mentions per bucket (one watch, or the whole organisation), with sentiment and reach:
    per minute for the last hours, per 5 minutes for the last week, per hour beyond."""

    required_roles = {"GET": Role.VIEWER}

    @extend_schema(
        parameters=[OpenApiParameter("watch", int), OpenApiParameter("minutes", int), OpenApiParameter("resolution", int, enum=[1, 5, 60])],
        responses=VolumeBucketOut(many=True),
    )
    def get(self, request, slug):
        filters = _filters(request)
        minutes = _number(request, "minutes", 60, minimum=1, maximum=max(selectors.MINUTES_BY_RESOLUTION.values()))
        resolution = _number(request, "resolution", 0, minimum=0, maximum=60) or None
        if resolution is not None and resolution not in selectors.MINUTES_BY_RESOLUTION:
            raise exceptions.ValidationError({"resolution": ["must be 1, 5 or 60 (minutes)"]})
        if resolution is not None and minutes > selectors.MINUTES_BY_RESOLUTION[resolution]:
            raise exceptions.ValidationError({"minutes": [f"at {resolution}-minute resolution, at most {selectors.MINUTES_BY_RESOLUTION[resolution]}"]})
        series = selectors.volume_series(organization_id=request.organization.pk, watch_id=filters.watch, minutes=minutes, resolution=resolution)
        return Response(VolumeBucketOut(series, many=True).data)


class SpikeOut(serializers.Serializer):
    """``monitoring.spike_services.spike_data``, the same shape the live events carry."""

    id = serializers.IntegerField()
    watch_id = serializers.IntegerField()
    watch = serializers.CharField()
    status = serializers.ChoiceField(choices=SpikeStatus.choices)
    started_at = serializers.DateTimeField()
    detected_at = serializers.DateTimeField()
    peak_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    window_minutes = serializers.IntegerField()
    peak_count = serializers.IntegerField()
    window_count = serializers.IntegerField()
    baseline_per_minute = serializers.FloatField()
    expected = serializers.FloatField()
    magnitude = serializers.FloatField()
    explanation = serializers.JSONField()
    suggested_playbook = serializers.JSONField(allow_null=True)
    incident_id = serializers.IntegerField(allow_null=True)
    snoozed_until = serializers.DateTimeField(allow_null=True)
    dismissed_at = serializers.DateTimeField(allow_null=True)
    needs_action = serializers.BooleanField()


class SpikeListApi(_MonitoringView):
    """Spikes, newest detection first (``status=open`` for the ones still growing)."""

    required_roles = {"GET": Role.VIEWER}

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=SpikeStatus.values), OpenApiParameter("watch", int), OpenApiParameter("limit", int)],
        responses=SpikeOut(many=True),
    )
    def get(self, request, slug):
        wanted = request.query_params.get("status", "")
        if wanted and wanted not in SpikeStatus.values:
            raise exceptions.ValidationError({"status": [f"must be one of {', '.join(SpikeStatus.values)}"]})
        watch = request.query_params.get("watch", "").strip()
        try:
            watch_id = selectors.whole_number(watch, "watch") if watch else None
        except selectors.FilterError as error:
            raise exceptions.ValidationError({error.field: [error.message]}) from None
        limit = _number(request, "limit", 50, minimum=1, maximum=200)
        spikes = selectors.spikes_of(organization_id=request.organization.pk, status=wanted, watch_id=watch_id)[:limit]
        return Response([spike_services.spike_data(spike) for spike in spikes])


class SpikeDetailApi(_MonitoringView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=SpikeOut)
    def get(self, request, slug, spike_id: int):
        spike = selectors.spike_of(organization_id=request.organization.pk, spike_id=spike_id)
        if spike is None:
            raise exceptions.NotFound("No such spike.")
        return Response(spike_services.spike_data(spike))


class _SpikeActionView(_MonitoringView):
    required_roles = {"POST": Role.RESPONDER}

    def spike(self, request, spike_id: int):
        spike = selectors.spike_of(organization_id=request.organization.pk, spike_id=spike_id)
        if spike is None:
            raise exceptions.NotFound("No such spike.")
        return spike

    def body(self, request) -> dict:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        return request.data

    @staticmethod
    def optional_number(body: dict, field: str) -> int | None:
        value = body.get(field)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise exceptions.ValidationError({field: ["must be a whole number"]})
        return value


class SpikeIncidentIn(serializers.Serializer):
    playbook_id = serializers.IntegerField(required=False, allow_null=True)
    severity = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=4)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)


class SpikeIncidentApi(_SpikeActionView):
    """One click: open an incident from the spike (the suggested playbook unless one is given)."""

    @extend_schema(request=SpikeIncidentIn, responses={201: inline_serializer("SpikeIncidentOut", fields={"incident_id": serializers.IntegerField(), "url": serializers.CharField()})})
    def post(self, request, slug, spike_id: int):
        spike = self.spike(request, spike_id)
        data = SpikeIncidentIn(data=self.body(request))
        data.is_valid(raise_exception=True)
        incident = spike_alerts.spike_open_incident(
            spike=spike, actor_membership=request.membership, playbook_id=data.validated_data.get("playbook_id"),
            severity=data.validated_data.get("severity"), title=data.validated_data.get("title", ""),
        )
        return Response({"incident_id": incident.pk, "url": f"/o/{request.organization.slug}/incidents/{incident.pk}/"}, status=status.HTTP_201_CREATED)


class SpikeAttachApi(_SpikeActionView):
    @extend_schema(request=inline_serializer("SpikeAttachIn", fields={"incident_id": serializers.IntegerField()}), responses=SpikeOut)
    def post(self, request, slug, spike_id: int):
        spike = self.spike(request, spike_id)
        incident_id = self.optional_number(self.body(request), "incident_id")
        if incident_id is None:
            raise exceptions.ValidationError({"incident_id": ["Choose the incident to attach the spike to."]})
        spike = spike_alerts.spike_attach(spike=spike, actor_membership=request.membership, incident_id=incident_id)
        return Response(spike_services.spike_data(spike))


class SpikeSnoozeApi(_SpikeActionView):
    @extend_schema(request=inline_serializer("SpikeSnoozeIn", fields={"minutes": serializers.ChoiceField(choices=spike_alerts.SNOOZE_MINUTES)}), responses=SpikeOut)
    def post(self, request, slug, spike_id: int):
        spike = self.spike(request, spike_id)
        minutes = self.optional_number(self.body(request), "minutes")
        spike = spike_alerts.spike_snooze(spike=spike, actor_membership=request.membership, minutes=minutes)
        return Response(spike_services.spike_data(spike))


class SpikeDismissApi(_SpikeActionView):
    @extend_schema(request=None, responses=SpikeOut)
    def post(self, request, slug, spike_id: int):
        spike = spike_alerts.spike_dismiss(spike=self.spike(request, spike_id), actor_membership=request.membership)
        return Response(spike_services.spike_data(spike))


class WarRoomApi(_MonitoringView):
    """The war room as it is now (what the dashboard shows on opening and after a reconnect)."""

    required_roles = {"GET": Role.VIEWER}

    @extend_schema(parameters=[OpenApiParameter("minutes", int)], responses=inline_serializer("WarRoom", fields={"version": serializers.IntegerField()}))
    def get(self, request, slug):
        minutes = _number(request, "minutes", war_room.CHART_MINUTES, minimum=10, maximum=war_room.MAX_CHART_MINUTES)
        return Response(war_room.snapshot(membership=request.membership, minutes=minutes))


class TagListApi(_MonitoringView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=inline_serializer("TagOut", fields={"id": serializers.IntegerField(), "name": serializers.CharField()}, many=True))
    def get(self, request, slug):
        return Response(list(selectors.tags_of(organization_id=request.organization.pk).values("id", "name")))
