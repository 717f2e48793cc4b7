"""Who must approve a statement, and who may publish it where.

The approval policy comes from the incident's playbook version: the escalation ladder's rung
for the incident's *current* severity says how many approvals (``approvals_required``) and
from which playbook roles (``approver_roles``, e.g. a manager and legal at severity 1). Two
approvals from [manager, legal] need one of each; one approval needs either. A role is covered
by someone who holds it on the incident (member or backup); a role
nobody holds on the incident is covered by any manager of the organisation, and the policy
says so, so the gap is visible rather than blocking a statement in the middle of a crisis.
Nothing is ever published without at least one approval, whatever a plan says.

Publishing rights: a channel whose access list is empty may be used by managers and up; a
channel with grants only by the people granted; during a crisis lockdown only by grants
marked for the lockdown. Checked when the publication runs, so a revocation is instant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from crisiscenter.models import Membership, Role, User
from playbooks import document as playbook_document
from playbooks.models import Incident, IncidentRole
from responses.models import ChannelAccess, PublishingChannel, PublishingLockdown

DEFAULT_APPROVER_ROLES = ["approver_manager"]
APPROVER_FALLBACK_ROLE = Role.MANAGER


@dataclass
class ApprovalPolicy:
    required: int
    roles: list[str]
    holders: dict[str, set[int]] = field(default_factory=dict)  # role -> user ids holding it on the incident
    review_minutes: int = 15

    def roles_of(self, user: User) -> list[str]:
        return [role for role in self.roles if user.pk in self.holders.get(role, set())]

    def unfilled_roles(self) -> list[str]:
        return [role for role in self.roles if not self.holders.get(role)]

    def may_approve(self, membership: Membership) -> bool:
        """Holders of an approver role may (a responder at least: viewers only read); managers
        and up may too (they cover unfilled roles and make up the count)."""
        if not membership.has_role(Role.RESPONDER):
            return False
        return bool(self.roles_of(membership.user)) or membership.has_role(APPROVER_FALLBACK_ROLE)

    def _can_cover(self, user_id: int, is_manager: bool, role: str) -> bool:
        holders = self.holders.get(role, set())
        return user_id in holders or (not holders and is_manager)

    def covered_roles(self, approvals: list[tuple[int, bool]]) -> set[str]:
        """The most roles the approvals can cover with each approver standing for ONE role:
        someone who holds both the manager and the legal role is still one signature."""
        people = {user_id: is_manager for user_id, is_manager in approvals}
        best: tuple[str, ...] = ()
        # Roles and approvers are a handful: trying every assignment is cheap and plainly right.
        for size in range(min(len(self.roles), len(people)), 0, -1):
            for roles in itertools.permutations(self.roles, size):
                for chosen in itertools.permutations(people, size):
                    if all(self._can_cover(user_id, people[user_id], role) for user_id, role in zip(chosen, roles)):
                        best = roles
                        break
                if best:
                    break
            if best:
                break
        return set(best)

    def is_satisfied(self, approvals: list[tuple[int, bool]]) -> bool:
        """Enough distinct approvers, and as many of the roles covered — each by a different
        person — as approvals are asked for: two approvals from [manager, legal] need one of
        each; one needs either."""
        enough_people = len({user_id for user_id, _ in approvals}) >= self.required
        return enough_people and len(self.covered_roles(approvals)) >= min(self.required, len(self.roles))

    def describe(self) -> dict:
        labels = playbook_document.PlaybookRole.LABELS
        return {
            "approvals_required": self.required,
            "roles": [{"role": role, "label": labels.get(role, role), "holder_ids": sorted(self.holders.get(role, set())),
                       "unfilled": not self.holders.get(role)} for role in self.roles],
            "review_minutes": self.review_minutes,
        }


def approval_policy(incident: Incident) -> ApprovalPolicy:
    document = incident.playbook_version.document if incident.playbook_version_id else {}
    rung = playbook_document.escalation_for(document, incident.severity) or {}
    roles = list(rung.get("approver_roles") or DEFAULT_APPROVER_ROLES)
    required = max(1, int(rung.get("approvals_required") or 0))
    holders: dict[str, set[int]] = {role: set() for role in roles}
    for assignment in IncidentRole.objects.for_organization(incident.organization_id).filter(incident=incident, role__in=roles):
        for user_id in (assignment.member_id, assignment.backup_id):
            if user_id is not None:
                holders[assignment.role].add(user_id)
    # Reviews are due well inside the first-statement window: half of it, 5 to 30 minutes.
    first_due = int(rung.get("first_statement_due_minutes") or 30)
    return ApprovalPolicy(required=required, roles=roles, holders=holders, review_minutes=max(5, min(30, first_due // 2)))


def backup_approvers(incident: Incident, policy: ApprovalPolicy) -> list[User]:
    """Whom to escalate an overdue review to: the backups of the approver roles, else managers."""
    backups = [
        assignment.backup
        for assignment in IncidentRole.objects.for_organization(incident.organization_id)
        .filter(incident=incident, role__in=policy.roles, backup__isnull=False)
        .select_related("backup")
    ]
    if backups:
        return backups
    managers = Membership.objects.for_organization(incident.organization_id).filter(role__in=[Role.OWNER, Role.ADMIN, Role.MANAGER])
    return [membership.user for membership in managers.select_related("user")]


def active_lockdown(organization_id: int) -> PublishingLockdown | None:
    return PublishingLockdown.objects.for_organization(organization_id).filter(ended_at__isnull=True).first()


def publish_refusal(*, channel: PublishingChannel, membership: Membership | None) -> str:
    """Why this member may not publish through this channel now, or '' when they may."""
    if membership is None or membership.organization_id != channel.organization_id:
        return "Not a member of this organisation."
    if not channel.is_enabled:
        return f"The channel {channel.name} is switched off."
    grants = ChannelAccess.objects.for_organization(channel.organization_id).filter(channel=channel, revoked_at__isnull=True)
    lockdown = active_lockdown(channel.organization_id)
    if lockdown is not None:
        if not grants.filter(user_id=membership.user_id, in_lockdown=True).exists():
            return f"Publishing is locked down ({lockdown.reason}); {membership.user} is not on the lockdown list of {channel.name}."
        return ""
    if grants.exists():
        return "" if grants.filter(user_id=membership.user_id).exists() else f"{membership.user} is not on the access list of {channel.name}."
    return "" if membership.has_role(Role.MANAGER) else f"Only managers publish through {channel.name} until it has an access list."
