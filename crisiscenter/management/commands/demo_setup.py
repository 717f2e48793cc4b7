from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from crisiscenter.audit import audit_context, audit_record
from crisiscenter.models import Membership, Organization, Role, User

DEMO_ORGANIZATION = {"slug": "demo", "name": "Demo Brand"}
DEMO_PASSWORD = "crisis-demo-2026"
DEMO_USERS = [
    # username, display name, role
    ("admin", "Ada Admin", Role.ADMIN),
    ("manager", "Max Manager", Role.MANAGER),
    ("responder", "Rita Responder", Role.RESPONDER),
]


class Command(BaseCommand):
    help = "Create the demo organisation and its three demo users (idempotent), and print their logins."

    def handle(self, *args, **options):
        created_any = False
        with audit_context(source="command:demo_setup"), transaction.atomic():
            organization, created = Organization.objects.get_or_create(
                slug=DEMO_ORGANIZATION["slug"], defaults={"name": DEMO_ORGANIZATION["name"]}
            )
            if created:
                audit_record(action="organization.created", organization=organization, target=organization, after=DEMO_ORGANIZATION)
            for username, display_name, role in DEMO_USERS:
                user, user_created = User.objects.get_or_create(
                    username=username, defaults={"display_name": display_name, "email": f"{username}@demo.example"}
                )
                if user_created:
                    created_any = True
                    user.set_password(DEMO_PASSWORD)
                    # The demo admin may also open Django's admin site (/admin/).
                    user.is_staff = user.is_superuser = role == Role.ADMIN
                    user.save()
                membership, membership_created = Membership.unscoped.get_or_create(
                    organization=organization, user=user, defaults={"role": role}
                )
                if membership_created:
                    audit_record(action="member.added", organization=organization, target=membership, after={"role": role.value})
        self._load_starter_playbooks(organization)
        self._load_demo_watches(organization)
        self.stdout.write(self.style.SUCCESS(f"Demo organisation '{organization.name}' (/o/{organization.slug}/)"))
        for username, _display_name, role in DEMO_USERS:
            self.stdout.write(f"  {role.label:<10} username: {username:<10} password: {DEMO_PASSWORD}")
        if not created_any:
            self.stdout.write("  (existing demo users kept; passwords are as you left them)")

    def _load_starter_playbooks(self, organization: Organization) -> None:
        """Give the demo its crisis plans, with the demo people in the key roles."""
        from playbooks import selectors as playbook_selectors
        from playbooks import services as playbook_services

        admin = Membership.unscoped.get(organization=organization, user__username="admin")
        existing = set(playbook_selectors.playbooks_of(organization=organization, include_archived=True).values_list("name", flat=True))
        people = {"incident_lead": ("admin", "manager"), "spokesperson": ("manager", "admin"), "approver_manager": ("manager", "admin"),
                  "approver_legal": ("admin", "manager"),
                  "responder": ("responder", None), "scribe": ("responder", None)}
        with audit_context(source="command:demo_setup"):
            for document in playbook_selectors.starter_documents().values():
                if document["name"] in existing:
                    continue
                filled = dict(document)
                filled["roles"] = [
                    {"role": entry["role"], "member": people.get(entry["role"], (None, None))[0], "backup": people.get(entry["role"], (None, None))[1]}
                    for entry in document.get("roles", [])
                ]
                playbook_services.playbook_create(organization=organization, actor_membership=admin, document=filled, change_note="Demo")

    def _load_demo_watches(self, organization: Organization) -> None:
        """Watches that light up on the real crisis streams a drill replays (CrisisLexT6)."""
        from monitoring import services as monitoring_services
        from monitoring.models import Watch

        admin = Membership.unscoped.select_related("organization", "user").get(organization=organization, user__username="admin")
        existing = set(Watch.objects.for_organization(organization).values_list("name", flat=True))
        with audit_context(source="command:demo_setup"):
            for name, query in DEMO_WATCHES:
                if name not in existing:
                    monitoring_services.watch_save(organization=organization, actor_membership=admin, name=name, query=query)


DEMO_WATCHES = [
    ("Our brand", '@demobrand OR "demo brand" OR #demobrand'),
    ("Floods", "flood* OR #yycflood OR #qldflood OR #abflood"),
    ("Storm", "hurricane OR sandy OR storm*"),
    ("Explosion", "explosion OR blast OR #westexplosion"),
    ("Boston", "boston OR marathon OR #prayforboston"),
]
