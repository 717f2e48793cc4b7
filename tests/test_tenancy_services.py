"""Tenancy services and the guards around them: organisations, invitations, roles,
membership removal and its event, scoped managers, and the append-only audit trail."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.models import ForeignKey
from django.utils import timezone

from crisiscenter import services
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import AppendOnlyError, AuditEntry, Invitation, Membership, Organization, Role
from crisiscenter.realtime import organization_group, user_group
from crisiscenter.tenancy import OrganizationScopedManager, UnscopedQueryError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db






@pytest.fixture
def grace(db):
    return UserFactory(username="grace", email="grace@example.com")


def _invite(organization, actor_membership, email="grace@example.com", role=Role.RESPONDER):
    return services.invitation_create(organization=organization, actor_membership=actor_membership, email=email, role=role)


# --- Organisations ----------------------------------------------------------------------
def test_creating_an_organisation_makes_the_creator_its_owner_and_audits_both(alice):
    organization = services.organization_create(name="  Delta Rail ", slug="Delta", owner=alice)

    organization.refresh_from_db()
    assert (organization.name, organization.slug) == ("Delta Rail", "delta")
    membership = Membership.objects.for_organization(organization).get()
    assert (membership.user, membership.role) == (alice, Role.OWNER)
    entries = AuditEntry.objects.for_organization(organization).order_by("id")
    assert [(entry.action, entry.actor_id, entry.object_type) for entry in entries] == [
        ("organization.created", alice.pk, "crisiscenter.organization"),
        ("member.added", alice.pk, "crisiscenter.membership"),
    ]
    assert entries[1].after == {"role": "owner"}


@pytest.mark.parametrize("slug", ["-delta", "delta-", "del ta", "délta", "d" * 51, ""])
def test_an_invalid_slug_is_refused_with_a_code(alice, slug):
    with pytest.raises(ServiceError) as refused:
        services.organization_create(name="Delta Rail", slug=slug, owner=alice)

    assert (refused.value.code, refused.value.field) == ("invalid_slug", "slug")
    assert not Organization.objects.filter(name="Delta Rail").exists()


def test_a_taken_slug_is_refused_and_nothing_is_written(alice, org_b):
    memberships_before = Membership.unscoped.count()
    audit_before = AuditEntry.unscoped.count()

    with pytest.raises(ServiceError) as refused:
        services.organization_create(name="Another Bravo", slug="Bravo", owner=alice)

    assert (refused.value.code, refused.value.field) == ("slug_taken", "slug")
    assert not Organization.objects.filter(name="Another Bravo").exists()
    assert (Membership.unscoped.count(), AuditEntry.unscoped.count()) == (memberships_before, audit_before)


def test_an_organisation_needs_a_name(alice):
    with pytest.raises(ServiceError) as refused:
        services.organization_create(name="   ", slug="nameless", owner=alice)

    assert refused.value.field == "name"
    assert not Organization.objects.filter(slug="nameless").exists()


# --- Invitations ------------------------------------------------------------------------
def test_an_invitation_stores_only_the_hash_of_its_token(org_a, alice_membership):
    invitation, token = _invite(org_a, alice_membership)

    invitation.refresh_from_db()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = Invitation.unscoped.filter(pk=invitation.pk).values().get()
    assert token not in {str(value) for value in stored.values()}
    assert Invitation.unscoped.with_token(token).get() == invitation


def test_the_invitation_email_is_sent_only_after_the_commit(org_a, alice_membership, eager_celery, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _invite(org_a, alice_membership)

    assert len(callbacks) == 1
    assert mailoutbox == []


def test_the_invitation_email_carries_the_link_with_the_raw_token(org_a, alice_membership, eager_celery, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = _invite(org_a, alice_membership)

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["grace@example.com"]
    assert "Acme Foods" in email.subject
    assert f"/invitations/{token}/" in email.body
    assert invitation.token_hash not in email.body


def test_no_invitation_email_is_sent_when_the_transaction_rolls_back(org_a, alice_membership, eager_celery, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            _invite(org_a, alice_membership)
            raise RuntimeError("roll back")

    assert callbacks == []
    assert mailoutbox == []
    assert not Invitation.objects.for_organization(org_a).exists()


def test_inviting_the_same_address_again_revokes_the_pending_invitation(org_a, alice_membership):
    first, first_token = _invite(org_a, alice_membership, email="grace@example.com")

    second, _ = _invite(org_a, alice_membership, email="Grace@Example.com")

    first.refresh_from_db()
    assert first.status == "revoked"
    assert second.is_pending()
    assert list(Invitation.objects.for_organization(org_a).pending()) == [second]


def test_a_member_cannot_be_invited_again(org_a, alice_membership, bob):
    with pytest.raises(ServiceError) as refused:
        _invite(org_a, alice_membership, email=bob.email.upper())

    assert refused.value.code == "already_member"
    assert not Invitation.objects.for_organization(org_a).exists()


@pytest.mark.parametrize("persona", ["carol", "bob", "dave"])
def test_only_admins_may_invite(org_a, personas, persona):
    membership = personas[persona].memberships.get()

    with pytest.raises(NotAllowed):
        _invite(org_a, membership)

    assert not Invitation.objects.for_organization(org_a).exists()


def test_accepting_an_invitation_adds_the_member_with_the_invited_role(org_a, alice_membership, grace, sent_events, django_capture_on_commit_callbacks):
    invitation, _ = _invite(org_a, alice_membership, role=Role.MANAGER)

    with django_capture_on_commit_callbacks(execute=True):
        membership = services.invitation_accept(invitation=invitation, user=grace)

    membership.refresh_from_db()
    assert (membership.organization, membership.user, membership.role) == (org_a, grace, Role.MANAGER)
    invitation.refresh_from_db()
    assert (invitation.status, invitation.accepted_by) == ("accepted", grace)
    added = AuditEntry.objects.for_organization(org_a).get(action="member.added")
    assert added.after == {"role": "manager", "via": "invitation", "invitation_id": invitation.pk}
    assert [(group, event["type"], event["data"]["username"]) for group, event in sent_events] == [
        (organization_group(org_a.pk), "member.added", "grace")
    ]


def test_only_the_invited_address_can_accept(org_a, alice_membership, charlie):
    invitation, _ = _invite(org_a, alice_membership)

    with pytest.raises(NotAllowed) as refused:
        services.invitation_accept(invitation=invitation, user=charlie)

    assert refused.value.code == "wrong_account"
    assert not Membership.objects.for_organization(org_a).filter(user=charlie).exists()
    invitation.refresh_from_db()
    assert invitation.is_pending()


def test_an_expired_invitation_cannot_be_accepted(org_a, alice_membership, grace):
    invitation, _ = _invite(org_a, alice_membership)
    Invitation.unscoped.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    invitation.refresh_from_db()

    with pytest.raises(ServiceError) as refused:
        services.invitation_accept(invitation=invitation, user=grace)

    assert refused.value.code == "invitation_expired"
    assert not Membership.objects.for_organization(org_a).filter(user=grace).exists()


def test_an_invitation_works_only_once(org_a, alice_membership, grace):
    invitation, _ = _invite(org_a, alice_membership)
    services.invitation_accept(invitation=invitation, user=grace)
    invitation.refresh_from_db()

    with pytest.raises(ServiceError) as refused:
        services.invitation_accept(invitation=invitation, user=grace)

    assert refused.value.code == "invitation_accepted"
    assert Membership.objects.for_organization(org_a).filter(user=grace).count() == 1


def test_a_stale_copy_of_an_accepted_invitation_cannot_be_accepted_again(org_a, alice_membership, grace):
    # Two tabs: the second still holds the invitation as it was before the first accepted.
    invitation, _ = _invite(org_a, alice_membership)
    stale_copy = Invitation.unscoped.get(pk=invitation.pk)
    services.invitation_accept(invitation=invitation, user=grace)

    with pytest.raises(ServiceError) as refused:
        services.invitation_accept(invitation=stale_copy, user=grace)

    assert refused.value.code == "invitation_invalid"


def test_a_revoked_invitation_cannot_be_accepted(org_a, alice_membership, grace):
    invitation, _ = _invite(org_a, alice_membership)
    services.invitation_revoke(invitation=invitation, actor_membership=alice_membership)

    with pytest.raises(ServiceError) as refused:
        services.invitation_accept(invitation=invitation, user=grace)

    assert refused.value.code == "invitation_revoked"
    assert not Membership.objects.for_organization(org_a).filter(user=grace).exists()


def test_revoking_twice_is_refused_and_audited_once(org_a, alice_membership):
    invitation, _ = _invite(org_a, alice_membership)
    services.invitation_revoke(invitation=invitation, actor_membership=alice_membership)

    with pytest.raises(ServiceError) as refused:
        services.invitation_revoke(invitation=invitation, actor_membership=alice_membership)

    assert refused.value.code == "not_pending"
    assert AuditEntry.objects.for_organization(org_a).filter(action="invitation.revoked").count() == 1


# --- Roles ------------------------------------------------------------------------------
def test_the_last_owner_cannot_be_demoted(alice_membership):
    with pytest.raises(ServiceError) as refused:
        services.membership_change_role(membership=alice_membership, actor_membership=alice_membership, role=Role.ADMIN)

    assert refused.value.code == "last_owner"
    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER
    assert not AuditEntry.objects.for_organization(alice_membership.organization).filter(action="member.role_changed").exists()


def test_an_owner_can_be_demoted_while_another_owner_remains(alice_membership, erin_membership):
    services.membership_change_role(membership=erin_membership, actor_membership=alice_membership, role=Role.OWNER)

    services.membership_change_role(membership=alice_membership, actor_membership=erin_membership, role=Role.VIEWER)

    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.VIEWER
    changed = AuditEntry.objects.for_organization(alice_membership.organization).filter(action="member.role_changed")
    assert [(entry.object_id, entry.before, entry.after) for entry in changed.order_by("id")] == [
        (str(erin_membership.pk), {"role": "admin"}, {"role": "owner"}),
        (str(alice_membership.pk), {"role": "owner"}, {"role": "viewer"}),
    ]


@pytest.mark.parametrize("new_role", [Role.ADMIN, Role.VIEWER])
def test_an_admin_cannot_change_an_owners_role(alice_membership, erin_membership, new_role):
    with pytest.raises(NotAllowed):
        services.membership_change_role(membership=alice_membership, actor_membership=erin_membership, role=new_role)

    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER


def test_an_admin_cannot_make_anyone_owner(erin_membership, frank_membership):
    with pytest.raises(NotAllowed):
        services.membership_change_role(membership=frank_membership, actor_membership=erin_membership, role=Role.OWNER)

    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.RESPONDER


def test_an_admin_can_promote_up_to_admin(erin_membership, frank_membership, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_change_role(membership=frank_membership, actor_membership=erin_membership, role=Role.ADMIN)

    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.ADMIN
    assert [(event["type"], event["data"]["role"]) for _group, event in sent_events] == [("member.role_changed", "admin")]


def test_an_unknown_role_is_refused(alice_membership, frank_membership):
    with pytest.raises(ServiceError) as refused:
        services.membership_change_role(membership=frank_membership, actor_membership=alice_membership, role="captain")

    assert refused.value.field == "role"
    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.RESPONDER


def test_an_owner_of_another_organisation_cannot_change_roles_in_this_one(charlie_membership, frank_membership):
    with pytest.raises(NotAllowed):
        services.membership_change_role(membership=frank_membership, actor_membership=charlie_membership, role=Role.ADMIN)

    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.RESPONDER


# --- Removal and its event --------------------------------------------------------------
def test_removing_a_member_broadcasts_member_removed_after_the_commit(
    alice_membership, frank_membership, sent_events, django_capture_on_commit_callbacks
):
    frank_membership_id = frank_membership.pk  # delete() clears the instance's pk

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.membership_remove(membership=frank_membership, actor_membership=alice_membership)
        assert sent_events == []  # nothing is announced while the transaction is open

    # Once to the organisation (the war room), once to frank's own group (his incident rooms).
    assert len(callbacks) == 2
    assert not Membership.unscoped.filter(pk=frank_membership_id).exists()
    [(group, event), (user_group_name, same_event)] = sent_events
    assert group == organization_group(alice_membership.organization_id)
    assert user_group_name == user_group(frank_membership.user_id) and same_event == event
    assert event["type"] == "member.removed"
    assert event["organization"] == "acme"
    assert event["data"] == {
        "membership_id": frank_membership_id,
        "user_id": frank_membership.user_id,
        "username": "frank",
        "name": "Frank",
        "role": "responder",
    }
    removed = AuditEntry.objects.for_organization(alice_membership.organization).get(action="member.removed")
    assert (removed.actor_id, removed.before) == (alice_membership.user_id, {"role": "responder", "user_id": frank_membership.user_id})


def test_a_rolled_back_removal_announces_nothing(alice_membership, frank_membership, sent_events, django_capture_on_commit_callbacks):
    frank_membership_id = frank_membership.pk

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.membership_remove(membership=frank_membership, actor_membership=alice_membership)
            raise RuntimeError("roll back")

    assert callbacks == []
    assert sent_events == []
    assert Membership.unscoped.filter(pk=frank_membership_id).exists()


def test_a_member_leaving_is_audited_as_left(bob_membership, org_a):
    bob_membership_id = bob_membership.pk

    services.membership_remove(membership=bob_membership, actor_membership=bob_membership)

    assert not Membership.unscoped.filter(pk=bob_membership_id).exists()
    left = AuditEntry.objects.for_organization(org_a).get(action="member.left")
    assert (left.actor_id, left.object_id) == (bob_membership.user_id, str(bob_membership_id))


def test_an_admin_cannot_remove_an_owner(alice_membership, erin_membership, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotAllowed):
        services.membership_remove(membership=alice_membership, actor_membership=erin_membership)

    assert Membership.unscoped.filter(pk=alice_membership.pk).exists()
    assert sent_events == []


def test_the_last_owner_cannot_leave(alice_membership, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError) as refused:
        services.membership_remove(membership=alice_membership, actor_membership=alice_membership)

    assert refused.value.code == "last_owner"
    assert Membership.unscoped.filter(pk=alice_membership.pk).exists()
    assert sent_events == []


# --- Scoped managers --------------------------------------------------------------------
@pytest.mark.parametrize("query", [lambda: Membership.objects.filter(role=Role.OWNER), lambda: Membership.objects.all(), lambda: Membership.objects.count()])
def test_an_unscoped_query_on_organisation_data_fails_loudly(alice_membership, query):
    with pytest.raises(UnscopedQueryError, match="for_organization"):
        query()


def test_a_scoped_query_sees_only_its_organisations_rows(alice_membership, bob_membership, charlie_membership, org_a, org_b):
    assert set(Membership.objects.for_organization(org_a)) == {alice_membership, bob_membership}
    assert list(Membership.objects.for_organization(org_b.pk)) == [charlie_membership]


def test_a_scoped_query_without_an_organisation_fails_loudly(db):
    with pytest.raises(UnscopedQueryError):
        Membership.objects.for_organization(None)


def test_every_organisation_owned_model_uses_the_scoped_manager():
    owned = [
        model
        for model in apps.get_models()
        if model is not Organization
        and any(
            isinstance(field, ForeignKey) and field.name == "organization" and field.related_model is Organization
            for field in model._meta.get_fields()
        )
    ]

    assert {Membership, Invitation, AuditEntry} <= set(owned)
    unscoped = [model.__name__ for model in owned if not isinstance(model.objects, OrganizationScopedManager)]
    assert unscoped == []


# --- Append-only audit trail ------------------------------------------------------------
@pytest.fixture
def audit_entry(alice_membership, org_a):
    services.organization_rename(organization=org_a, actor_membership=alice_membership, name="Acme Foods Ltd")
    return AuditEntry.objects.for_organization(org_a).get(action="organization.renamed")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda entry: (setattr(entry, "action", "forged"), entry.save()), id="instance.save"),
        pytest.param(lambda entry: entry.delete(), id="instance.delete"),
        pytest.param(lambda entry: AuditEntry.unscoped.filter(pk=entry.pk).update(action="forged"), id="queryset.update"),
        pytest.param(lambda entry: AuditEntry.unscoped.filter(pk=entry.pk).delete(), id="queryset.delete"),
        pytest.param(
            lambda entry: AuditEntry.objects.for_organization(entry.organization_id).update(action="forged"),
            id="scoped queryset.update",
        ),
        pytest.param(
            lambda entry: AuditEntry.objects.for_organization(entry.organization_id).delete(), id="scoped queryset.delete"
        ),
        pytest.param(
            lambda entry: AuditEntry.unscoped.bulk_update([entry], ["action"]), id="bulk_update"
        ),
    ],
)
def test_audit_entries_cannot_be_changed_or_deleted_through_the_orm(audit_entry, change):
    with pytest.raises(AppendOnlyError):
        change(audit_entry)

    stored = AuditEntry.unscoped.get(pk=audit_entry.pk)
    assert (stored.action, stored.after) == ("organization.renamed", {"name": "Acme Foods Ltd"})


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE crisiscenter_auditentry SET action = 'forged' WHERE id = %s",
        "DELETE FROM crisiscenter_auditentry WHERE id = %s",
    ],
)
def test_postgresql_refuses_raw_sql_changes_to_audit_entries(audit_entry, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [audit_entry.pk])

    stored = AuditEntry.unscoped.get(pk=audit_entry.pk)
    assert stored.action == "organization.renamed"


# --- Django admin -----------------------------------------------------------------------
@pytest.fixture
def superuser_browser(login_client):
    return login_client(UserFactory(username="root", is_staff=True, is_superuser=True))


def test_a_superuser_can_browse_the_audit_trail_in_the_admin(superuser_browser, audit_entry):
    response = superuser_browser.get("/admin/crisiscenter/auditentry/")

    assert response.status_code == 200
    assert b"organization.renamed" in response.content
    assert b"/admin/crisiscenter/auditentry/add/" not in response.content


def test_the_admin_shows_an_audit_entry_read_only(superuser_browser, audit_entry):
    response = superuser_browser.get(f"/admin/crisiscenter/auditentry/{audit_entry.pk}/change/")

    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b'name="action"' not in response.content  # shown as text, not as an input


def test_the_admin_refuses_to_change_an_audit_entry(superuser_browser, audit_entry):
    response = superuser_browser.post(
        f"/admin/crisiscenter/auditentry/{audit_entry.pk}/change/", {"action": "forged", "actor_label": "nobody"}
    )

    assert response.status_code == 403
    assert AuditEntry.unscoped.get(pk=audit_entry.pk).action == "organization.renamed"


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_admin_refuses_to_delete_an_audit_entry(superuser_browser, audit_entry, method):
    response = getattr(superuser_browser, method)(f"/admin/crisiscenter/auditentry/{audit_entry.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert AuditEntry.unscoped.filter(pk=audit_entry.pk).exists()


def test_the_admin_refuses_to_add_an_audit_entry(superuser_browser, org_a):
    before = AuditEntry.unscoped.count()

    response = superuser_browser.post("/admin/crisiscenter/auditentry/add/", {"action": "forged", "actor_label": "nobody"})

    assert response.status_code == 403
    assert AuditEntry.unscoped.count() == before


def test_the_admin_offers_no_bulk_delete_of_audit_entries(superuser_browser, audit_entry):
    response = superuser_browser.post(
        "/admin/crisiscenter/auditentry/", {"action": "delete_selected", "_selected_action": [audit_entry.pk], "post": "yes"}
    )

    assert response.status_code in (200, 302)
    assert AuditEntry.unscoped.filter(pk=audit_entry.pk).exists()
