from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crisiscenter import api, views
from playbooks import api as playbooks_api
from playbooks import incident_api
from playbooks import incident_views
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
    path("organizations/<slug:slug>/incidents/", incident_api.IncidentListApi.as_view(), name="api-incidents"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/", incident_api.IncidentDetailApi.as_view(), name="api-incident"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/acknowledge/", incident_api.IncidentAcknowledgeApi.as_view(), name="api-incident-acknowledge"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/status/", incident_api.IncidentStatusApi.as_view(), name="api-incident-status"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/severity/", incident_api.IncidentSeverityApi.as_view(), name="api-incident-severity"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/facts/", incident_api.IncidentFactsApi.as_view(), name="api-incident-facts"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/roles/", incident_api.IncidentRolesApi.as_view(), name="api-incident-roles"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/tasks/", incident_api.IncidentTasksApi.as_view(), name="api-incident-tasks"),
    path(
        "organizations/<slug:slug>/incidents/<int:incident_id>/tasks/<int:task_id>/done/",
        incident_api.IncidentTaskDoneApi.as_view(),
        name="api-incident-task-done",
    ),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/timeline/", incident_api.IncidentTimelineApi.as_view(), name="api-incident-timeline"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/review/", incident_api.IncidentReviewApi.as_view(), name="api-incident-review"),
    path("organizations/<slug:slug>/incidents/<int:incident_id>/proposals/", incident_api.IncidentProposalApi.as_view(), name="api-incident-proposals"),
    path("organizations/<slug:slug>/notifications/", incident_api.NotificationListApi.as_view(), name="api-notifications"),
]

organization_pages = [
    path("", views.war_room, name="war-room"),
    path("settings/", views.organization_settings, name="organization-settings"),
    path("settings/chat/", views.chat_webhook_save, name="chat-webhook-save"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member-invite"),
    path("members/<int:membership_id>/role/", views.member_change_role, name="member-role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("audit/", views.audit_log, name="audit-log"),
    path("notifications/", views.notifications, name="notifications"),
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
    path(
        "playbooks/<int:playbook_id>/proposals/<int:proposal_id>/decide/",
        playbooks_views.playbook_proposal_decide,
        name="playbook-proposal-decide",
    ),
    path("incidents/", incident_views.incident_list, name="incidents"),
    path("incidents/new/", incident_views.incident_new, name="incident-new"),
    path("incidents/<int:incident_id>/", incident_views.incident_room, name="incident"),
    path("incidents/<int:incident_id>/timeline.csv", incident_views.incident_timeline_export, name="incident-timeline-export"),
    path("incidents/<int:incident_id>/acknowledge/", incident_views.incident_acknowledge, name="incident-acknowledge"),
    path("incidents/<int:incident_id>/status/", incident_views.incident_status, name="incident-status"),
    path("incidents/<int:incident_id>/severity/", incident_views.incident_severity, name="incident-severity"),
    path("incidents/<int:incident_id>/facts/", incident_views.incident_facts, name="incident-facts"),
    path("incidents/<int:incident_id>/roles/", incident_views.incident_role, name="incident-role"),
    path("incidents/<int:incident_id>/tasks/", incident_views.incident_task_add, name="incident-task-add"),
    path("incidents/<int:incident_id>/tasks/<int:task_id>/done/", incident_views.incident_task_done, name="incident-task-done"),
    path("incidents/<int:incident_id>/notes/", incident_views.incident_note, name="incident-note"),
    path("incidents/<int:incident_id>/review/", incident_views.incident_review, name="incident-review"),
    path("incidents/<int:incident_id>/review.json", incident_views.incident_review_export, name="incident-review-export"),
    path("incidents/<int:incident_id>/proposals/", incident_views.incident_propose, name="incident-propose"),
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
