"""API v1 routes of statements, approvals, publishing, channels, replies and scheduled posts (included by crisiscenter.urls)."""

from django.urls import path

from responses import api

ORGANIZATION = "organizations/<slug:slug>"
STATEMENT = f"{ORGANIZATION}/statements/<int:statement_id>"

urlpatterns: list = [
    path(f"{ORGANIZATION}/incidents/<int:incident_id>/statements/", api.StatementListApi.as_view(), name="api-statements"),
    path(f"{ORGANIZATION}/incidents/<int:incident_id>/tone-check/", api.ToneCheckApi.as_view(), name="api-tone-check"),
    path(f"{ORGANIZATION}/incidents/<int:incident_id>/promises/", api.PromiseListApi.as_view(), name="api-promises"),
    path(f"{STATEMENT}/", api.StatementDetailApi.as_view(), name="api-statement"),
    path(f"{STATEMENT}/versions/", api.StatementVersionListApi.as_view(), name="api-statement-versions"),
    path(f"{STATEMENT}/versions/<int:number>/", api.StatementVersionDetailApi.as_view(), name="api-statement-version"),
    path(f"{STATEMENT}/diff/", api.StatementDiffApi.as_view(), name="api-statement-diff"),
    path(f"{STATEMENT}/submit/", api.StatementSubmitApi.as_view(), name="api-statement-submit"),
    path(f"{STATEMENT}/decision/", api.StatementDecisionApi.as_view(), name="api-statement-decision"),
    path(f"{STATEMENT}/publish/", api.StatementPublishApi.as_view(), name="api-statement-publish"),
    path(f"{ORGANIZATION}/publications/<int:publication_id>/retry/", api.PublicationRetryApi.as_view(), name="api-publication-retry"),
    path(f"{STATEMENT}/translations/", api.StatementTranslationApi.as_view(), name="api-statement-translations"),
    path(f"{ORGANIZATION}/approvals/", api.ApprovalQueueApi.as_view(), name="api-approvals"),
    path(f"{ORGANIZATION}/promises/<int:promise_id>/keep/", api.PromiseKeepApi.as_view(), name="api-promise-keep"),
    path(f"{ORGANIZATION}/channels/", api.ChannelListApi.as_view(), name="api-channels"),
    path(f"{ORGANIZATION}/channels/<int:channel_id>/", api.ChannelDetailApi.as_view(), name="api-channel"),
    path(f"{ORGANIZATION}/channels/<int:channel_id>/access/", api.ChannelAccessApi.as_view(), name="api-channel-access"),
    path(f"{ORGANIZATION}/channels/<int:channel_id>/access/<int:user_id>/", api.ChannelAccessRevokeApi.as_view(), name="api-channel-access-revoke"),
    path(f"{ORGANIZATION}/publishing/lockdown/", api.LockdownApi.as_view(), name="api-lockdown"),
    path(f"{ORGANIZATION}/publishing/policy/", api.PublishingPolicyApi.as_view(), name="api-publishing-policy"),
    path(f"{ORGANIZATION}/mentions/<int:mention_id>/replies/", api.MentionReplyListApi.as_view(), name="api-mention-replies"),
    path(f"{ORGANIZATION}/incidents/<int:incident_id>/reply-templates/", api.ReplyTemplateListApi.as_view(), name="api-reply-templates"),
    path(f"{ORGANIZATION}/scheduled-posts/", api.ScheduledPostListApi.as_view(), name="api-scheduled-posts"),
    path(f"{ORGANIZATION}/scheduled-posts/<int:post_id>/cancel/", api.ScheduledPostCancelApi.as_view(), name="api-scheduled-post-cancel"),
    path(f"{ORGANIZATION}/scheduled-posts/<int:post_id>/resume/", api.ScheduledPostResumeApi.as_view(), name="api-scheduled-post-resume"),
]
