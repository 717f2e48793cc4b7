"""What the permission matrices read back to tell an allowed write from a refused one:
each function takes the matrix's world and returns the state a call would change."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from crisiscenter.models import Invitation, Membership, Organization
from monitoring.models import IngestJob, Mention, MentionNote, Rumour, Source, Spike, Watch
from playbooks.models import (
    Incident,
    Notification,
    Playbook,
    PlaybookVersion,
    PostIncidentReview,
    TimelineEntry,
)


def acme_name(world) -> str:
    world.org_a.refresh_from_db()
    return world.org_a.name


def frank_role(world) -> str | None:
    return Membership.unscoped.filter(pk=world.frank_membership.pk).values_list("role", flat=True).first()


def acme_invitation_emails(world) -> list[str]:
    return sorted(Invitation.objects.for_organization(world.org_a).values_list("email", flat=True))


def invitation_revoked_at(world):
    world.invitation.refresh_from_db()
    return world.invitation.revoked_at


def acme_playbook_names(world) -> list[str]:
    return sorted(Playbook.objects.for_organization(world.org_a).values_list("name", flat=True))


def playbook_version_numbers(world) -> list[int]:
    return sorted(PlaybookVersion.objects.for_organization(world.org_a).filter(playbook=world.playbook).values_list("number", flat=True))


def playbook_archived(world) -> bool:
    world.playbook.refresh_from_db()
    return world.playbook.is_archived


def acme_incident_titles(world) -> list[str]:
    return sorted(Incident.objects.for_organization(world.org_a).values_list("title", flat=True))


def incident_field(field: str) -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        return Incident.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=world.incident.pk)

    return read


def incident_roles(world) -> list[tuple[str, int | None]]:
    return sorted(world.incident.roles.values_list("role", "member_id"))


def incident_task_titles(world) -> list[str]:
    return sorted(world.incident.tasks.values_list("title", flat=True))


def incident_timeline_length(world) -> int:
    return TimelineEntry.objects.for_organization(world.org_a).filter(incident=world.incident).count()


def resolved_review(world) -> str | None:
    return PostIncidentReview.objects.for_organization(world.org_a).filter(incident=world.resolved).values_list("went_well", flat=True).first()


def acme_unread_notifications(world) -> int:
    return Notification.objects.for_organization(world.org_a).filter(read_at__isnull=True).count()


# --- Monitoring -------------------------------------------------------------------------
def acme_source_names(world) -> list[str]:
    return sorted(Source.objects.for_organization(world.org_a).values_list("name", flat=True))


def source_field(field: str, source_name: str = "source") -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        return Source.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=getattr(world, source_name).pk)

    return read


def acme_watch_names(world) -> list[str]:
    return sorted(Watch.objects.for_organization(world.org_a).values_list("name", flat=True))


def watch_query(world) -> str:
    return Watch.objects.for_organization(world.org_a).values_list("query", flat=True).get(pk=world.watch.pk)


def mention_field(field: str, mention_name: str = "mention") -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        return Mention.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=getattr(world, mention_name).pk)

    return read


def mention_tags(world) -> list[str]:
    return sorted(world.mention.tags.values_list("name", flat=True))


def mention_note_texts(world) -> list[str]:
    return sorted(MentionNote.objects.for_organization(world.org_a).filter(mention=world.mention).values_list("text", flat=True))


def acme_import_file_names(world) -> list[str]:
    return sorted(IngestJob.objects.for_organization(world.org_a).values_list("file_name", flat=True))


def job_status(world) -> str:
    return IngestJob.objects.for_organization(world.org_a).values_list("status", flat=True).get(pk=world.job.pk)


def acme_rumour_claims(world) -> list[str]:
    return sorted(Rumour.objects.for_organization(world.org_a).values_list("claim", flat=True))


def rumour_field(field: str) -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        return Rumour.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=world.rumour.pk)

    return read


def rumour_mention_ids(world) -> list[int]:
    return sorted(world.rumour.mentions.values_list("pk", flat=True))


def acme_on_call_roles(world) -> list[str]:
    return Organization.objects.get(pk=world.org_a.pk).on_call_roles


def spike_field(field: str) -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        return Spike.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=world.spike.pk)

    return read


# --- Statements and publishing ------------------------------------------------------------
def incident_statement_ids(world) -> list[int]:
    from responses.models import Statement

    return sorted(Statement.objects.for_organization(world.org_a).filter(incident=world.incident).values_list("pk", flat=True))


def statement_field(field: str, statement_name: str = "draft") -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        from responses.models import Statement

        return Statement.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=getattr(world, statement_name).pk)

    return read


def statement_version_numbers(world) -> list[int]:
    from responses.models import StatementVersion

    return sorted(StatementVersion.objects.for_organization(world.org_a).filter(statement=world.draft).values_list("number", flat=True))


def statement_translation_languages(world) -> list[str]:
    from responses.models import Statement

    return sorted(Statement.objects.for_organization(world.org_a).filter(translation_of=world.draft).values_list("language", flat=True))


def promise_status(world) -> str:
    from responses.models import Promise

    return Promise.objects.for_organization(world.org_a).values_list("status", flat=True).get(pk=world.promise.pk)


def acme_channel_names(world) -> list[str]:
    from responses.models import PublishingChannel

    return sorted(PublishingChannel.objects.for_organization(world.org_a).values_list("name", flat=True))


def channel_field(field: str) -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        from responses.models import PublishingChannel

        return PublishingChannel.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=world.channel.pk)

    return read


def channel_live_grants(world) -> list[tuple[int, bool]]:
    from responses.models import ChannelAccess

    live = ChannelAccess.objects.for_organization(world.org_a).filter(channel=world.channel, revoked_at__isnull=True)
    return sorted(live.values_list("user_id", "in_lockdown"))


def active_lockdown_reason(world) -> str | None:
    from responses import policy

    lockdown = policy.active_lockdown(world.org_a.pk)
    return lockdown.reason if lockdown else None


def lockdown_ended_at(world):
    """When the lockdown that DELETE ends ended. The world has none (starting one must work
    there), so the first read starts it: the reads before and after the call see the same row."""
    from responses import services
    from responses.models import PublishingLockdown

    if not hasattr(world, "lockdown"):
        alice = Membership.objects.for_organization(world.org_a).get(user__username="alice")
        world.lockdown = services.lockdown_start(organization=world.org_a, actor_membership=alice, reason="Matrix: ended by the call")
    return PublishingLockdown.objects.for_organization(world.org_a).values_list("ended_at", flat=True).get(pk=world.lockdown.pk)


# --- Replies and scheduled posts ----------------------------------------------------------
def x_mention_reply_ids(world) -> list[int]:
    from responses.models import Reply

    return sorted(Reply.objects.for_organization(world.org_a).filter(mention=world.x_mention).values_list("pk", flat=True))


def acme_scheduled_post_texts(world) -> list[str]:
    from responses.models import ScheduledPost

    return sorted(ScheduledPost.objects.for_organization(world.org_a).values_list("text", flat=True))


def scheduled_post_field(field: str, post_name: str = "scheduled_post") -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        from responses.models import ScheduledPost

        return ScheduledPost.objects.for_organization(world.org_a).values_list(field, flat=True).get(pk=getattr(world, post_name).pk)

    return read


def acme_publishing_policy(world) -> tuple[int, int]:
    from responses import reply_services

    current = reply_services.publishing_policy(world.org_a.pk)
    return current.pause_scheduled_at_severity, current.replies_per_author


def failed_publication_status(world) -> str:
    from responses.models import Publication

    return Publication.objects.for_organization(world.org_a).values_list("status", flat=True).get(pk=world.failed_publication.pk)
