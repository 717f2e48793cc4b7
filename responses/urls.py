"""Organisation pages of statements, approvals, publishing, replies and scheduled posts (included under /o/<slug>/)."""

from django.urls import path

from responses import views

STATEMENT = "incidents/<int:incident_id>/statements/<int:statement_id>/"

organization_pages: list = [
    path("incidents/<int:incident_id>/statements/", views.statements, name="statements"),
    path(STATEMENT, views.statement_detail, name="statement"),
    path(f"{STATEMENT}edit/", views.statement_edit, name="statement-edit"),
    path(f"{STATEMENT}submit/", views.statement_submit, name="statement-submit"),
    path(f"{STATEMENT}publications/<int:publication_id>/retry/", views.publication_retry, name="publication-retry"),
    path(f"{STATEMENT}decide/", views.statement_decide, name="statement-decide"),
    path(f"{STATEMENT}publish/", views.statement_publish, name="statement-publish"),
    path(f"{STATEMENT}translate/", views.statement_translate, name="statement-translate"),
    path(f"{STATEMENT}diff/", views.statement_diff, name="statement-diff"),
    path("incidents/<int:incident_id>/promises/<int:promise_id>/keep/", views.promise_keep, name="promise-keep"),
    path("approvals/", views.approvals, name="approvals"),
    path("publishing/", views.publishing, name="publishing"),
    path("publishing/channels/", views.channel_create, name="channel-create"),
    path("publishing/channels/<int:channel_id>/enabled/", views.channel_enabled, name="channel-enabled"),
    path("publishing/channels/<int:channel_id>/access/", views.channel_access_grant, name="channel-access-grant"),
    path("publishing/channels/<int:channel_id>/access/<int:user_id>/revoke/", views.channel_access_revoke, name="channel-access-revoke"),
    path("publishing/lockdown/", views.publishing_lockdown, name="publishing-lockdown"),
    path("publishing/policy/", views.publishing_policy, name="publishing-policy"),
    path("inbox/<int:mention_id>/reply/", views.mention_reply, name="mention-reply"),
    path("scheduled/", views.scheduled_posts, name="scheduled-posts"),
    path("scheduled/<int:post_id>/cancel/", views.scheduled_post_cancel, name="scheduled-post-cancel"),
    path("scheduled/<int:post_id>/resume/", views.scheduled_post_resume, name="scheduled-post-resume"),
]
