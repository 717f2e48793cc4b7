from __future__ import annotations

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
