from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crisiscenter import api, views

api_v1 = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("auth/token/", api.ObtainTokenApi.as_view(), name="api-token"),
    path("organizations/", api.OrganizationListApi.as_view(), name="api-organizations"),
    path("organizations/<slug:slug>/", api.OrganizationDetailApi.as_view(), name="api-organization"),
    path("organizations/<slug:slug>/members/", api.MemberListApi.as_view(), name="api-members"),
    path("organizations/<slug:slug>/members/<int:membership_id>/", api.MemberDetailApi.as_view(), name="api-member"),
    path("organizations/<slug:slug>/invitations/", api.InvitationListApi.as_view(), name="api-invitations"),
    path(
        "organizations/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        api.InvitationRevokeApi.as_view(),
        name="api-invitation-revoke",
    ),
    path("organizations/<slug:slug>/audit/", api.AuditListApi.as_view(), name="api-audit"),
]

organization_pages = [
    path("", views.war_room, name="war-room"),
    path("settings/", views.organization_settings, name="organization-settings"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member-invite"),
    path("members/<int:membership_id>/role/", views.member_change_role, name="member-role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("audit/", views.audit_log, name="audit-log"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("o/new/", views.organization_create, name="organization-create"),
    path("o/<slug:slug>/", include(organization_pages)),
    path("account/", views.account, name="account"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

handler404 = "crisiscenter.api_support.api_not_found"
handler500 = "crisiscenter.api_support.api_server_error"
