"""API v1 for tenancy and the audit trail: thin views, explicit input and output serializers."""

from __future__ import annotations

from django.db import transaction
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.views import APIView

from crisiscenter import selectors, services
from crisiscenter.api_support import OrganizationRole, Pagination
from crisiscenter.models import AuditEntry, Invitation, Membership, Organization, Role


# --- Output serializers ---------------------------------------------------------------
class OrganizationOut(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "on_call_roles", "created_at"]


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="__str__")
    email = serializers.EmailField()


class MembershipOut(serializers.ModelSerializer):
    user = UserOut()

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]


class MyMembershipOut(serializers.ModelSerializer):
    organization = OrganizationOut()

    class Meta:
        model = Membership
        fields = ["id", "organization", "role"]


class InvitationOut(serializers.ModelSerializer):
    status = serializers.CharField()
    invited_by = serializers.CharField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]


class AuditEntryOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id", "created_at", "actor_id", "actor_label", "action", "object_type", "object_id",
            "object_repr", "before", "after", "ip_address", "user_agent", "source",
        ]


# --- Input serializers ----------------------------------------------------------------
class OrganizationCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.CharField(max_length=50)


class OrganizationUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    on_call_roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices), required=False, max_length=len(Role.values),
                                          help_text="roles whose members are notified of every spike")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send name and/or on_call_roles.")
        return attrs


class MembershipUpdateIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationCreateIn(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


def _paginated(view: APIView, request, queryset, serializer_class) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- Views ----------------------------------------------------------------------------
class MeApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me", fields={"user": UserOut(), "memberships": MyMembershipOut(many=True)}
        )
    )
    def get(self, request):
        return Response(
            {
                "user": UserOut(request.user).data,
                "memberships": MyMembershipOut(selectors.memberships_of(user=request.user), many=True).data,
            }
        )


class OrganizationListApi(APIView):
    @extend_schema(responses=MyMembershipOut(many=True))
    def get(self, request):
        return _paginated(self, request, selectors.memberships_of(user=request.user), MyMembershipOut)

    @extend_schema(request=OrganizationCreateIn, responses={201: OrganizationOut})
    def post(self, request):
        data = OrganizationCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(owner=request.user, **data.validated_data)
        return Response(OrganizationOut(organization).data, status=status.HTTP_201_CREATED)


class OrganizationDetailApi(APIView):
    permission_classes = [OrganizationRole]
    required_roles = {"GET": Role.VIEWER, "PATCH": Role.ADMIN}

    @extend_schema(responses=OrganizationOut)
    def get(self, request, slug):
        return Response(OrganizationOut(request.organization).data)

    @extend_schema(request=OrganizationUpdateIn, responses=OrganizationOut)
    def patch(self, request, slug):
        data = OrganizationUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        organization = request.organization
        with transaction.atomic():
            if "name" in data.validated_data:
                organization = services.organization_rename(organization=organization, actor_membership=request.membership, name=data.validated_data["name"])
            if "on_call_roles" in data.validated_data:
                organization = services.organization_set_on_call_roles(
                    organization=organization, actor_membership=request.membership, roles=data.validated_data["on_call_roles"]
                )
        return Response(OrganizationOut(organization).data)


class MemberListApi(APIView):
    permission_classes = [OrganizationRole]
    required_roles = {"GET": Role.VIEWER}

    @extend_schema(responses=MembershipOut(many=True))
    def get(self, request, slug):
        return _paginated(self, request, selectors.organization_members(organization=request.organization), MembershipOut)


class MemberDetailApi(APIView):
    permission_classes = [OrganizationRole]
    # Removing yourself (leaving) is allowed to every member; the service checks the rest.
    required_roles = {"GET": Role.VIEWER, "PATCH": Role.ADMIN, "DELETE": Role.VIEWER}

    def _membership(self, request, membership_id: int) -> Membership:
        membership = selectors.organization_member(organization=request.organization, membership_id=membership_id)
        if membership is None:
            raise exceptions.NotFound("No such member.")
        return membership

    @extend_schema(responses=MembershipOut)
    def get(self, request, slug, membership_id: int):
        return Response(MembershipOut(self._membership(request, membership_id)).data)

    @extend_schema(request=MembershipUpdateIn, responses=MembershipOut)
    def patch(self, request, slug, membership_id: int):
        data = MembershipUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=self._membership(request, membership_id),
            actor_membership=request.membership,
            role=data.validated_data["role"],
        )
        return Response(MembershipOut(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug, membership_id: int):
        services.membership_remove(membership=self._membership(request, membership_id), actor_membership=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(APIView):
    permission_classes = [OrganizationRole]
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}

    @extend_schema(responses=InvitationOut(many=True))
    def get(self, request, slug):
        return _paginated(self, request, selectors.organization_invitations(organization=request.organization), InvitationOut)

    @extend_schema(request=InvitationCreateIn, responses={201: InvitationOut})
    def post(self, request, slug):
        data = InvitationCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            organization=request.organization, actor_membership=request.membership, **data.validated_data
        )
        return Response(InvitationOut(invitation).data, status=status.HTTP_201_CREATED)


class InvitationRevokeApi(APIView):
    permission_classes = [OrganizationRole]
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(request=None, responses=InvitationOut)
    def post(self, request, slug, invitation_id: int):
        invitation = selectors.organization_invitation(organization=request.organization, invitation_id=invitation_id)
        if invitation is None:
            raise exceptions.NotFound("No such invitation.")
        invitation = services.invitation_revoke(invitation=invitation, actor_membership=request.membership)
        return Response(InvitationOut(invitation).data)


def _parse_time(value: str | None, name: str):
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise exceptions.ValidationError({name: ["Use an ISO 8601 time with a time zone, e.g. 2026-11-21T10:00:00Z."]})
    return parsed


class AuditListApi(APIView):
    permission_classes = [OrganizationRole]
    required_roles = {"GET": Role.ADMIN}

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, description="action prefix, e.g. 'member.'"),
            OpenApiParameter("actor", int, description="user id of the actor"),
            OpenApiParameter("object_type", str, description="e.g. 'crisiscenter.membership'"),
            OpenApiParameter("since", str, description="ISO 8601 time, inclusive"),
            OpenApiParameter("until", str, description="ISO 8601 time, exclusive"),
        ],
        responses=AuditEntryOut(many=True),
    )
    def get(self, request, slug):
        actor = request.query_params.get("actor") or None
        if actor is not None and not actor.isdigit():
            raise exceptions.ValidationError({"actor": ["Give the actor's numeric user id."]})
        entries = selectors.audit_entries(
            organization=request.organization,
            action=request.query_params.get("action", "")[:80],
            actor_id=int(actor) if actor else None,
            object_type=request.query_params.get("object_type", "")[:80],
            since=_parse_time(request.query_params.get("since"), "since"),
            until=_parse_time(request.query_params.get("until"), "until"),
        )
        return _paginated(self, request, entries, AuditEntryOut)


class ObtainTokenApi(ObtainAuthToken):
    """Exchange a username and password for an API token; failed attempts count towards the
    same lockout as the login form, and a locked-out caller gets 429."""

    @extend_schema(
        request=inline_serializer("TokenRequest", fields={"username": serializers.CharField(), "password": serializers.CharField()}),
        responses={200: inline_serializer("TokenResponse", fields={"token": serializers.CharField()})},
    )
    def post(self, request, *args, **kwargs):
        from axes.handlers.proxy import AxesProxyHandler

        username = request.data.get("username") if hasattr(request.data, "get") else None
        if AxesProxyHandler.is_locked(request._request, {"username": username}):
            raise exceptions.Throttled(detail="Too many failed log-ins; try again later or reset your password.")
        return super().post(request, *args, **kwargs)
