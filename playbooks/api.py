"""API v1 for playbooks: list, create (blank, from a starter, or imported), version, export."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from crisiscenter.api_support import OrganizationRole, Pagination
from crisiscenter.models import Role
from playbooks import document as playbook_document
from playbooks import selectors, services
from playbooks.models import Playbook, PlaybookVersion


class PlaybookOut(serializers.ModelSerializer):
    version = serializers.IntegerField(source="latest_version_number")

    class Meta:
        model = Playbook
        fields = ["id", "name", "category", "version", "is_archived", "created_at", "updated_at"]


class PlaybookVersionOut(serializers.ModelSerializer):
    created_by = serializers.CharField(allow_null=True)

    class Meta:
        model = PlaybookVersion
        fields = ["number", "change_note", "created_by", "created_at", "document"]


class PlaybookVersionSummaryOut(PlaybookVersionOut):
    class Meta(PlaybookVersionOut.Meta):
        fields = ["number", "change_note", "created_by", "created_at"]


class PlaybookDetailOut(PlaybookOut):
    document = serializers.SerializerMethodField()

    class Meta(PlaybookOut.Meta):
        fields = PlaybookOut.Meta.fields + ["document"]

    def get_document(self, playbook) -> dict:
        version = selectors.playbook_version(playbook=playbook)
        return version.document if version else {}


class PlaybookCreateIn(serializers.Serializer):
    document = serializers.JSONField(required=False, help_text="a whole playbook document (see GET playbook-starters for examples)")
    starter = serializers.CharField(required=False, help_text="or: the key of a starter playbook")

    def validate(self, data):
        if ("document" in data) == ("starter" in data):
            raise serializers.ValidationError("Give either a document or a starter, not both.")
        if "document" in data and not isinstance(data["document"], dict):
            raise serializers.ValidationError({"document": ["The document must be an object."]})
        return data


class PlaybookVersionIn(serializers.Serializer):
    document = serializers.JSONField()
    change_note = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate_document(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The document must be an object.")
        return value


class PlaybookArchiveIn(serializers.Serializer):
    archived = serializers.BooleanField()


class _PlaybookView(APIView):
    permission_classes = [OrganizationRole]

    def playbook(self, request, playbook_id: int) -> Playbook:
        playbook = selectors.playbook_of(organization=request.organization, playbook_id=playbook_id)
        if playbook is None:
            raise exceptions.NotFound("No such playbook.")
        return playbook


class PlaybookStarterListApi(APIView):
    @extend_schema(responses=inline_serializer("Starter", fields={"key": serializers.CharField(), "name": serializers.CharField(), "category": serializers.CharField(), "document": serializers.JSONField()}, many=True))
    def get(self, request):
        return Response(
            [{"key": key, "name": doc["name"], "category": doc["category"], "document": doc} for key, doc in selectors.starter_documents().items()]
        )


class PlaybookListApi(_PlaybookView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.ADMIN}

    @extend_schema(parameters=[OpenApiParameter("archived", bool, description="include archived playbooks")], responses=PlaybookOut(many=True))
    def get(self, request, slug):
        include_archived = request.query_params.get("archived") in ("1", "true", "yes")
        playbooks = selectors.playbooks_of(organization=request.organization, include_archived=include_archived)
        paginator = Pagination()
        page = paginator.paginate_queryset(playbooks, request, view=self)
        return paginator.get_paginated_response(PlaybookOut(page, many=True).data)

    @extend_schema(request=PlaybookCreateIn, responses={201: PlaybookDetailOut})
    def post(self, request, slug):
        data = PlaybookCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        if "starter" in data.validated_data:
            playbook = services.playbook_create_from_starter(
                organization=request.organization, actor_membership=request.membership, starter=data.validated_data["starter"]
            )
        else:
            playbook = services.playbook_create(
                organization=request.organization, actor_membership=request.membership, document=data.validated_data["document"]
            )
        return Response(PlaybookDetailOut(playbook).data, status=status.HTTP_201_CREATED)


class PlaybookDetailApi(_PlaybookView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=PlaybookDetailOut)
    def get(self, request, slug, playbook_id: int):
        return Response(PlaybookDetailOut(self.playbook(request, playbook_id)).data)


class PlaybookVersionListApi(_PlaybookView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.ADMIN}

    @extend_schema(responses=PlaybookVersionSummaryOut(many=True))
    def get(self, request, slug, playbook_id: int):
        versions = selectors.playbook_versions(playbook=self.playbook(request, playbook_id))
        paginator = Pagination()
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response(PlaybookVersionSummaryOut(page, many=True).data)

    @extend_schema(
        request=PlaybookVersionIn,
        responses={201: PlaybookVersionOut, 200: PlaybookVersionOut},
        description="201 with the new version; 200 with the current one when the document is unchanged.",
    )
    def post(self, request, slug, playbook_id: int):
        data = PlaybookVersionIn(data=request.data)
        data.is_valid(raise_exception=True)
        playbook = self.playbook(request, playbook_id)
        previous = playbook.latest_version_number
        version = services.playbook_update(
            playbook=playbook,
            actor_membership=request.membership,
            document=data.validated_data["document"],
            change_note=data.validated_data.get("change_note", ""),
        )
        created = version.number > previous
        return Response(PlaybookVersionOut(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PlaybookVersionDetailApi(_PlaybookView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=PlaybookVersionOut)
    def get(self, request, slug, playbook_id: int, number: int):
        version = selectors.playbook_version(playbook=self.playbook(request, playbook_id), number=number)
        if version is None:
            raise exceptions.NotFound("No such version.")
        return Response(PlaybookVersionOut(version).data)


class PlaybookDiffApi(_PlaybookView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(
        parameters=[OpenApiParameter("from", int, required=True), OpenApiParameter("to", int, required=True)],
        responses=inline_serializer("PlaybookDiff", fields={"from": serializers.IntegerField(), "to": serializers.IntegerField(), "diff": serializers.ListField(child=serializers.CharField())}),
    )
    def get(self, request, slug, playbook_id: int):
        playbook = self.playbook(request, playbook_id)
        numbers = {}
        for name in ("from", "to"):
            value = request.query_params.get(name, "")
            if not (value.isascii() and value.isdigit()):  # "²".isdigit() is true, int("²") fails
                raise exceptions.ValidationError({name: ["Give a version number."]})
            numbers[name] = int(value)
        older = selectors.playbook_version(playbook=playbook, number=numbers["from"])
        newer = selectors.playbook_version(playbook=playbook, number=numbers["to"])
        if older is None or newer is None:
            raise exceptions.NotFound("No such version.")
        return Response({"from": older.number, "to": newer.number, "diff": selectors.version_diff(older=older, newer=newer)})


class _FileFormatNegotiation(DefaultContentNegotiation):
    """``?format=`` names the exported file's format here, not a renderer: DRF would otherwise
    answer ``?format=yaml`` with 404 because no renderer is called yaml. The file is a plain
    HttpResponse; errors keep the API's JSON renderer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PlaybookExportApi(_PlaybookView):
    required_roles = {"GET": Role.VIEWER}
    content_negotiation_class = _FileFormatNegotiation

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["yaml", "json"]), OpenApiParameter("version", int)],
        responses={(200, "application/yaml"): str},
    )
    def get(self, request, slug, playbook_id: int):
        playbook = self.playbook(request, playbook_id)
        return export_response(playbook, request.query_params.get("format", "yaml"), request.query_params.get("version"))


def export_response(playbook: Playbook, file_format: str, version_number: str | None) -> HttpResponse:
    """The playbook (latest, or the given version) as a downloadable YAML or JSON file."""
    import json

    if file_format not in ("yaml", "json"):
        raise exceptions.ValidationError({"format": ["Use yaml or json."]})
    if version_number is not None and not str(version_number).isdigit():
        raise exceptions.ValidationError({"version": ["Give a version number."]})
    version = selectors.playbook_version(playbook=playbook, number=int(version_number) if version_number else None)
    if version is None:
        raise exceptions.NotFound("No such version.")
    if file_format == "json":
        body, content_type = json.dumps(version.document, indent=2, ensure_ascii=False), "application/json"
    else:
        body, content_type = playbook_document.to_yaml(version.document), "application/yaml"
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    filename = f"{slugify(playbook.name) or 'playbook'}-v{version.number}.{file_format}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class PlaybookImportApi(_PlaybookView):
    """Upload a YAML or JSON file (multipart field ``file``) as a new playbook, or, with
    ``playbook_id``, as the next version of an existing one."""

    required_roles = {"POST": Role.ADMIN}
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        operation_id="playbook_import",
        request={"multipart/form-data": inline_serializer("PlaybookImport", fields={"file": serializers.FileField()})},
        responses={201: PlaybookDetailOut},
    )
    def post(self, request, slug, playbook_id: int | None = None):
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": ["Attach the playbook file (YAML or JSON) as 'file'."]})
        if upload.size > playbook_document.MAX_DOCUMENT_BYTES:
            raise exceptions.ValidationError({"file": [f"The file is larger than {playbook_document.MAX_DOCUMENT_BYTES // 1024} KB."]})
        target = self.playbook(request, playbook_id) if playbook_id is not None else None
        playbook = services.playbook_import(
            organization=request.organization, actor_membership=request.membership, content=upload.read(), playbook=target
        )
        return Response(PlaybookDetailOut(playbook).data, status=status.HTTP_201_CREATED)


class PlaybookArchiveApi(_PlaybookView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(request=PlaybookArchiveIn, responses=PlaybookOut)
    def post(self, request, slug, playbook_id: int):
        data = PlaybookArchiveIn(data=request.data)
        data.is_valid(raise_exception=True)
        playbook = services.playbook_set_archived(
            playbook=self.playbook(request, playbook_id), actor_membership=request.membership, archived=data.validated_data["archived"]
        )
        return Response(PlaybookOut(playbook).data)


class PlaybookImportVersionApi(PlaybookImportApi):
    @extend_schema(
        operation_id="playbook_import_version",
        request={"multipart/form-data": inline_serializer("PlaybookImportVersion", fields={"file": serializers.FileField()})},
        responses={201: PlaybookDetailOut},
    )
    def post(self, request, slug, playbook_id: int):
        return super().post(request, slug, playbook_id)
