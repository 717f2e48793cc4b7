"""Reads of playbooks, always within one organisation."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.db.models import QuerySet

from crisiscenter.models import Membership, Organization
from playbooks import document as playbook_document
from playbooks.models import Playbook, PlaybookVersion

STARTERS_DIR = Path(__file__).resolve().parent / "starters"


def playbooks_of(*, organization: Organization, include_archived: bool = False) -> QuerySet[Playbook]:
    playbooks = Playbook.objects.for_organization(organization).select_related("created_by")
    return playbooks if include_archived else playbooks.filter(is_archived=False)


def playbook_of(*, organization: Organization, playbook_id: int) -> Playbook | None:
    return playbooks_of(organization=organization, include_archived=True).filter(pk=playbook_id).first()


def playbook_versions(*, playbook: Playbook) -> QuerySet[PlaybookVersion]:
    return PlaybookVersion.objects.for_organization(playbook.organization_id).filter(playbook=playbook).select_related("created_by")


def playbook_version(*, playbook: Playbook, number: int | None = None) -> PlaybookVersion | None:
    versions = playbook_versions(playbook=playbook)
    return versions.filter(number=number).first() if number is not None else versions.order_by("-number").first()


def member_usernames(*, organization: Organization) -> set[str]:
    return set(Membership.objects.for_organization(organization).values_list("user__username", flat=True))


@lru_cache(maxsize=1)
def starter_documents() -> dict[str, dict]:
    """The starter playbooks we ship, by file stem; validated at load so a broken one fails loudly."""
    starters = {}
    for path in sorted(STARTERS_DIR.glob("*.yaml")):
        try:
            starters[path.stem] = playbook_document.clean(playbook_document.parse(path.read_bytes()))
        except playbook_document.DocumentError as error:
            raise playbook_document.DocumentError([playbook_document.Problem(path.name, str(error))]) from None
    return starters


def version_diff(*, older: PlaybookVersion, newer: PlaybookVersion) -> list[str]:
    """A unified diff of two versions' YAML, for people to read."""
    import difflib

    return list(
        difflib.unified_diff(
            playbook_document.to_yaml(older.document).splitlines(),
            playbook_document.to_yaml(newer.document).splitlines(),
            fromfile=f"version {older.number}",
            tofile=f"version {newer.number}",
            lineterm="",
        )
    )
