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
