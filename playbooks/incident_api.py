"""API v1 for incidents: open, read, acknowledge, escalate, change status, facts, roles,
tasks, notes and the timeline (JSON or CSV)."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from crisiscenter.api_support import OrganizationRole, Pagination
from crisiscenter.models import Role
from playbooks import document as playbook_document
from playbooks import incident_selectors, incident_services, selectors
from playbooks.models import Incident, IncidentRole, IncidentStatus, IncidentTask, MistakeBy, Notification, Platform, TimelineEntry, TimelineKind


class IncidentOut(serializers.ModelSerializer):
    playbook_version = serializers.SerializerMethodField()
    open_tasks = serializers.IntegerField(read_only=True, default=None)
    overdue_tasks = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Incident
        fields = [
            "id", "title", "severity", "status", "origin_platform", "origin_url", "playbook_version",
            "what_happened", "mistake_by", "what_went_wrong", "started_at", "who_is_affected", "damage", "known", "unknown",
            "detected_at", "acknowledged_at", "first_statement_at", "first_statement_due_at", "next_update_due_at",
            "resolved_at", "closed_at", "open_tasks", "overdue_tasks",
        ]

    def get_playbook_version(self, incident) -> dict | None:
        version = incident.playbook_version
        return {"playbook_id": version.playbook_id, "name": incident.playbook.name, "number": version.number} if version else None


class IncidentRoleOut(serializers.ModelSerializer):
    member = serializers.CharField(allow_null=True)
    member_id = serializers.IntegerField(allow_null=True)
    backup = serializers.CharField(allow_null=True)
    backup_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = IncidentRole
        fields = ["id", "role", "member", "member_id", "backup", "backup_id"]


class IncidentTaskOut(serializers.ModelSerializer):
    owner = serializers.CharField(allow_null=True)
    owner_id = serializers.IntegerField(allow_null=True)
    done_by = serializers.CharField(allow_null=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = IncidentTask
        fields = ["id", "title", "role", "owner", "owner_id", "due_at", "overdue", "from_checklist", "done_at", "done_by"]

    def get_overdue(self, task) -> bool:
        return task.is_overdue()


class TimelineEntryOut(serializers.ModelSerializer):
    class Meta:
        model = TimelineEntry
        fields = ["id", "kind", "text", "data", "actor_id", "actor_label", "occurred_at", "logged_at"]


class NotificationOut(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "incident_id", "created_at", "read_at"]


class IncidentOpenIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    playbook_id = serializers.IntegerField(required=False, allow_null=True)
    severity = serializers.IntegerField(required=False, min_value=1, max_value=4)
    origin_platform = serializers.ChoiceField(choices=Platform.choices, required=False, default=Platform.OTHER)
    origin_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    what_happened = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class StatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=IncidentStatus.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class SeverityIn(serializers.Serializer):
    severity = serializers.IntegerField(min_value=1, max_value=4)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class FactsIn(serializers.Serializer):
    what_happened = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    mistake_by = serializers.ChoiceField(choices=MistakeBy.choices, required=False)
    what_went_wrong = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    who_is_affected = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    damage = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    known = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    unknown = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class RoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=playbook_document.PlaybookRole.CHOICES)
    member_id = serializers.IntegerField(allow_null=True)
    backup_id = serializers.IntegerField(required=False, allow_null=True)


class TaskIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    role = serializers.ChoiceField(choices=playbook_document.PlaybookRole.CHOICES, required=False, allow_blank=True)
    owner_id = serializers.IntegerField(required=False, allow_null=True)
    due_at = serializers.DateTimeField(required=False, allow_null=True)


class NoteIn(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)


def _valid(serializer_class, request):
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class _IncidentView(APIView):
    permission_classes = [OrganizationRole]

    def incident(self, request, incident_id: int) -> Incident:
        incident = incident_selectors.incident_of(organization=request.organization, incident_id=incident_id)
        if incident is None:
            raise exceptions.NotFound("No such incident.")
        return incident


class IncidentListApi(_IncidentView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(parameters=[OpenApiParameter("open", bool, description="only incidents not yet resolved")], responses=IncidentOut(many=True))
    def get(self, request, slug):
        incidents = incident_selectors.incidents_of(organization=request.organization, open_only=request.query_params.get("open") in ("1", "true"))
        paginator = Pagination()
        return paginator.get_paginated_response(IncidentOut(paginator.paginate_queryset(incidents, request, view=self), many=True).data)

    @extend_schema(request=IncidentOpenIn, responses={201: IncidentOut})
    def post(self, request, slug):
        data = _valid(IncidentOpenIn, request)
        playbook = None
        if data.get("playbook_id") is not None:
            playbook = selectors.playbook_of(organization=request.organization, playbook_id=data["playbook_id"])
            if playbook is None:
                raise exceptions.ValidationError({"playbook_id": ["No such playbook."]})
        incident = incident_services.incident_open(
            organization=request.organization,
            actor_membership=request.membership,
            title=data["title"],
            playbook=playbook,
            severity=data.get("severity"),
            origin_platform=data.get("origin_platform", Platform.OTHER),
            origin_url=data.get("origin_url", ""),
            what_happened=data.get("what_happened", ""),
        )
        return Response(IncidentOut(incident_selectors.incident_of(organization=request.organization, incident_id=incident.pk)).data, status=status.HTTP_201_CREATED)


class IncidentDetailApi(_IncidentView):
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=IncidentOut)
    def get(self, request, slug, incident_id: int):
        incident = self.incident(request, incident_id)
        body = IncidentOut(incident).data
        body["roles"] = IncidentRoleOut(incident_selectors.incident_roles(incident=incident), many=True).data
        body["tasks"] = IncidentTaskOut(incident_selectors.incident_tasks(incident=incident), many=True).data
        return Response(body)


class IncidentAcknowledgeApi(_IncidentView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=None, responses=IncidentOut)
    def post(self, request, slug, incident_id: int):
        incident = incident_services.incident_acknowledge(incident=self.incident(request, incident_id), actor_membership=request.membership)
        return Response(IncidentOut(incident).data)


class IncidentStatusApi(_IncidentView):
    # Responders reach the service, which lets managers and the incident's lead through.
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=StatusIn, responses=IncidentOut)
    def post(self, request, slug, incident_id: int):
        data = _valid(StatusIn, request)
        incident = incident_services.incident_change_status(
            incident=self.incident(request, incident_id), actor_membership=request.membership, status=data["status"], note=data.get("note", "")
        )
        return Response(IncidentOut(incident).data)


class IncidentSeverityApi(_IncidentView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=SeverityIn, responses=IncidentOut)
    def post(self, request, slug, incident_id: int):
        data = _valid(SeverityIn, request)
        incident = incident_services.incident_change_severity(
            incident=self.incident(request, incident_id), actor_membership=request.membership, severity=data["severity"], reason=data.get("reason", "")
        )
        return Response(IncidentOut(incident).data)


class IncidentFactsApi(_IncidentView):
    required_roles = {"PATCH": Role.RESPONDER}

    @extend_schema(request=FactsIn, responses=IncidentOut)
    def patch(self, request, slug, incident_id: int):
        data = _valid(FactsIn, request)
        incident = incident_services.incident_update_facts(incident=self.incident(request, incident_id), actor_membership=request.membership, changes=dict(data))
        return Response(IncidentOut(incident).data)


class IncidentRolesApi(_IncidentView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(responses=IncidentRoleOut(many=True))
    def get(self, request, slug, incident_id: int):
        return Response(IncidentRoleOut(incident_selectors.incident_roles(incident=self.incident(request, incident_id)), many=True).data)

    @extend_schema(request=RoleIn, responses=IncidentRoleOut)
    def post(self, request, slug, incident_id: int):
        data = _valid(RoleIn, request)
        assignment = incident_services.incident_assign_role(
            incident=self.incident(request, incident_id), actor_membership=request.membership,
            role=data["role"], member_id=data["member_id"], backup_id=data.get("backup_id"),
        )
        return Response(IncidentRoleOut(assignment).data)


class IncidentTasksApi(_IncidentView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(responses=IncidentTaskOut(many=True))
    def get(self, request, slug, incident_id: int):
        return Response(IncidentTaskOut(incident_selectors.incident_tasks(incident=self.incident(request, incident_id)), many=True).data)

    @extend_schema(request=TaskIn, responses={201: IncidentTaskOut})
    def post(self, request, slug, incident_id: int):
        data = _valid(TaskIn, request)
        task = incident_services.task_add(
            incident=self.incident(request, incident_id), actor_membership=request.membership, title=data["title"],
            role=data.get("role") or "", owner_id=data.get("owner_id"), due_at=data.get("due_at"),
        )
        return Response(IncidentTaskOut(task).data, status=status.HTTP_201_CREATED)


class IncidentTaskDoneApi(_IncidentView):
    required_roles = {"POST": Role.RESPONDER, "DELETE": Role.RESPONDER}

    def _task(self, request, incident_id: int, task_id: int) -> IncidentTask:
        task = incident_selectors.incident_task(incident=self.incident(request, incident_id), task_id=task_id)
        if task is None:
            raise exceptions.NotFound("No such task.")
        return task

    @extend_schema(request=None, responses=IncidentTaskOut, description="Mark the task done.")
    def post(self, request, slug, incident_id: int, task_id: int):
        task = incident_services.task_set_done(task=self._task(request, incident_id, task_id), actor_membership=request.membership, done=True)
        return Response(IncidentTaskOut(task).data)

    @extend_schema(request=None, responses=IncidentTaskOut, description="Reopen the task.")
    def delete(self, request, slug, incident_id: int, task_id: int):
        task = incident_services.task_set_done(task=self._task(request, incident_id, task_id), actor_membership=request.membership, done=False)
        return Response(IncidentTaskOut(task).data)


class IncidentTimelineApi(_IncidentView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.RESPONDER}

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, many=True, description=f"filter: {', '.join(TimelineKind.values)}"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses=TimelineEntryOut(many=True),
    )
    def get(self, request, slug, incident_id: int):
        incident = self.incident(request, incident_id)
        kinds = [kind for value in request.query_params.getlist("kind") for kind in value.split(",") if kind]
        unknown = set(kinds) - set(TimelineKind.values)
        if unknown:
            raise exceptions.ValidationError({"kind": [f"Unknown kinds: {', '.join(sorted(unknown))}."]})
        entries = incident_selectors.incident_timeline(incident=incident, kinds=kinds or None)
        if request.query_params.get("format") == "csv":
            return timeline_csv(incident, entries)
        paginator = Pagination()
        return paginator.get_paginated_response(TimelineEntryOut(paginator.paginate_queryset(entries, request, view=self), many=True).data)

    @extend_schema(request=NoteIn, responses={201: TimelineEntryOut})
    def post(self, request, slug, incident_id: int):
        data = _valid(NoteIn, request)
        entry = incident_services.note_add(
            incident=self.incident(request, incident_id), actor_membership=request.membership, text=data["text"], occurred_at=data.get("occurred_at")
        )
        return Response(TimelineEntryOut(entry).data, status=status.HTTP_201_CREATED)


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def timeline_csv(incident: Incident, entries) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["occurred_at", "logged_at", "kind", "actor", "text"])
    for entry in entries:
        writer.writerow([entry.occurred_at.isoformat(), entry.logged_at.isoformat(), entry.kind, _csv_safe(entry.actor_label), _csv_safe(entry.text)])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.pk}-timeline.csv"'
    return response


class NotificationListApi(APIView):
    permission_classes = [OrganizationRole]
    required_roles = {"GET": Role.VIEWER, "POST": Role.VIEWER}

    @extend_schema(parameters=[OpenApiParameter("unread", bool)], responses=NotificationOut(many=True))
    def get(self, request, slug):
        notifications = incident_selectors.notifications_for(organization=request.organization, user=request.user, unread_only=request.query_params.get("unread") in ("1", "true"))
        paginator = Pagination()
        return paginator.get_paginated_response(NotificationOut(paginator.paginate_queryset(notifications, request, view=self), many=True).data)

    @extend_schema(request=None, responses={204: None}, description="Mark all of my notifications read.")
    def post(self, request, slug):
        from django.utils import timezone

        incident_selectors.notifications_for(organization=request.organization, user=request.user, unread_only=True).update(read_at=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActionItemIn(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    owner_id = serializers.IntegerField(required=False, allow_null=True)
    due = serializers.DateField(required=False, allow_null=True)
    done = serializers.BooleanField(required=False, default=False)


class ReviewIn(serializers.Serializer):
    went_well = serializers.CharField(required=False, allow_blank=True, max_length=20000, default="")
    to_change = serializers.CharField(required=False, allow_blank=True, max_length=20000, default="")
    action_items = ActionItemIn(many=True, required=False, default=list)


class ProposalIn(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class IncidentReviewApi(_IncidentView):
    required_roles = {"GET": Role.VIEWER, "PUT": Role.RESPONDER}

    @extend_schema(responses={200: dict}, description="Measured timings, the review, and the timeline, as exported.")
    def get(self, request, slug, incident_id: int):
        return Response(incident_selectors.review_export(incident=self.incident(request, incident_id)))

    @extend_schema(request=ReviewIn, responses={200: dict})
    def put(self, request, slug, incident_id: int):
        data = _valid(ReviewIn, request)
        incident = self.incident(request, incident_id)
        items = [{**item, "due": item["due"].isoformat() if item.get("due") else None} for item in data["action_items"]]
        incident_services.review_save(incident=incident, actor_membership=request.membership, went_well=data["went_well"], to_change=data["to_change"], action_items=items)
        return Response(incident_selectors.review_export(incident=incident))


class IncidentProposalApi(_IncidentView):
    required_roles = {"POST": Role.RESPONDER}

    @extend_schema(request=ProposalIn, responses={201: dict})
    def post(self, request, slug, incident_id: int):
        data = _valid(ProposalIn, request)
        proposal = incident_services.proposal_create(incident=self.incident(request, incident_id), actor_membership=request.membership, text=data["text"])
        return Response({"id": proposal.pk, "playbook_id": proposal.playbook_id, "text": proposal.text, "status": proposal.status}, status=status.HTTP_201_CREATED)
