from __future__ import annotations

from types import SimpleNamespace

import factory

from crisiscenter.models import Membership, Organization, Role, User

PASSWORD = "correct-horse-battery-staple"


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class):
        # Organisation-owned models refuse `objects` without a scope; factories write through
        # the default (unscoped) manager on purpose.
        return model_class._default_manager


class UserFactory(ModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    display_name = factory.LazyAttribute(lambda user: user.username.capitalize())
    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])


class OrganizationFactory(ModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(ModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.RESPONDER


def valid_playbook_document(**fields) -> dict:
    """A small, valid playbook document (roles left unfilled, so it fits any organisation);
    keyword arguments replace or add top-level fields."""
    from playbooks.document import FORMAT

    return {
        "format": FORMAT,
        "name": "Granola recall",
        "category": "product_recall",
        "default_severity": 2,
        "scenario": "A batch of granola bars may contain nuts the label does not mention.",
        "escalation": [
            {"severity": 1, "first_statement_due_minutes": 15, "approvals_required": 1, "approver_roles": ["approver_manager"]},
            {"severity": 2, "first_statement_due_minutes": 30, "approvals_required": 1, "approver_roles": ["approver_manager"]},
        ],
        "roles": [{"role": "incident_lead", "member": None, "backup": None}],
        "checklist": [{"title": "Publish the holding statement", "role": "spokesperson", "due_minutes": 15}],
        "holding_statements": [
            {"name": "First response", "language": "en", "text": "We are looking into reports that {what_happened} Updates: {help_url}"}
        ],
        **fields,
    }


def incident_world(*, playbook, opener, lead) -> SimpleNamespace:
    """The incidents the permission matrices act on, all in ``playbook``'s organisation and
    opened by the membership ``opener`` (a manager or higher):

    - ``incident``: open, from the playbook, led by the user ``lead`` (whose role is then what
      lets them change status, severity and roles), with the checklist's open ``task`` and a
      ``done_task`` to reopen;
    - ``resolved``: resolved, so its review can be written, with an open ``proposal``;
    - one unread notification for every member, so marking them read changes something.
    """
    from crisiscenter.models import Membership
    from playbooks import incident_services
    from playbooks.models import IncidentStatus
    from playbooks.notifications import notify

    organization = playbook.organization
    incident = incident_services.incident_open(organization=organization, actor_membership=opener, title="Nuts in the granola", playbook=playbook)
    incident_services.incident_assign_role(incident=incident, actor_membership=opener, role="incident_lead", member_id=lead.pk)
    task = incident.tasks.get(from_checklist=True)
    done_task = incident_services.task_add(incident=incident, actor_membership=opener, title="Pull the batch from the shelves")
    incident_services.task_set_done(task=done_task, actor_membership=opener, done=True)
    resolved = incident_services.incident_open(organization=organization, actor_membership=opener, title="Late deliveries", playbook=playbook)
    incident_services.incident_change_status(incident=resolved, actor_membership=opener, status=IncidentStatus.RESOLVED)
    proposal = incident_services.proposal_create(incident=resolved, actor_membership=opener, text="Name a spokesperson up front.")
    members = [membership.user for membership in Membership.objects.for_organization(organization).select_related("user")]
    notify(organization=organization, recipients=members, kind="status", text="Nuts in the granola: active", dedupe_key="matrix:everyone", incident=incident)
    return SimpleNamespace(incident=incident, task=task, done_task=done_task, resolved=resolved, proposal=proposal)
