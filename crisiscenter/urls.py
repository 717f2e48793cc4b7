from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crisiscenter import api, views
from playbooks import api as playbooks_api
from playbooks import views as playbooks_views

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
    path("playbook-starters/", playbooks_api.PlaybookStarterListApi.as_view(), name="api-playbook-starters"),
    path("organizations/<slug:slug>/playbooks/", playbooks_api.PlaybookListApi.as_view(), name="api-playbooks"),
    path("organizations/<slug:slug>/playbooks/import/", playbooks_api.PlaybookImportApi.as_view(), name="api-playbook-import"),
    path("organizations/<slug:slug>/playbooks/<int:playbook_id>/", playbooks_api.PlaybookDetailApi.as_view(), name="api-playbook"),
    path(
        "organizations/<slug:slug>/playbooks/<int:playbook_id>/versions/",
        playbooks_api.PlaybookVersionListApi.as_view(),
        name="api-playbook-versions",
    ),
    path(
        "organizations/<slug:slug>/playbooks/<int:playbook_id>/versions/<int:number>/",
        playbooks_api.PlaybookVersionDetailApi.as_view(),
        name="api-playbook-version",
    ),
    path("organizations/<slug:slug>/playbooks/<int:playbook_id>/diff/", playbooks_api.PlaybookDiffApi.as_view(), name="api-playbook-diff"),
    path("organizations/<slug:slug>/playbooks/<int:playbook_id>/export/", playbooks_api.PlaybookExportApi.as_view(), name="api-playbook-export"),
    path(
        "organizations/<slug:slug>/playbooks/<int:playbook_id>/import/",
        playbooks_api.PlaybookImportVersionApi.as_view(),
        name="api-playbook-import-version",
    ),
    path("organizations/<slug:slug>/playbooks/<int:playbook_id>/archive/", playbooks_api.PlaybookArchiveApi.as_view(), name="api-playbook-archive"),
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
    path("playbooks/", playbooks_views.playbook_list, name="playbooks"),
    path("playbooks/new/", playbooks_views.playbook_new, name="playbook-new"),
    path("playbooks/from-starter/", playbooks_views.playbook_from_starter, name="playbook-from-starter"),
    path("playbooks/import/", playbooks_views.playbook_import, name="playbook-import"),
    path("playbooks/<int:playbook_id>/", playbooks_views.playbook_detail, name="playbook"),
    path("playbooks/<int:playbook_id>/edit/", playbooks_views.playbook_edit, name="playbook-edit"),
    path("playbooks/<int:playbook_id>/versions/<int:number>/", playbooks_views.playbook_detail, name="playbook-version"),
    path("playbooks/<int:playbook_id>/diff/", playbooks_views.playbook_diff, name="playbook-diff"),
    path("playbooks/<int:playbook_id>/export.<str:file_format>", playbooks_views.playbook_export, name="playbook-export"),
    path("playbooks/<int:playbook_id>/archive/", playbooks_views.playbook_archive, name="playbook-archive"),
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
