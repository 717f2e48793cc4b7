"""``python manage.py drill <org-slug> <file> --speed 60``: replay a file of real mentions
into the live pipeline with their original relative timing, N times faster, to rehearse a
playbook or to demo. Reads a CrisisLexT6 CSV or a Crisis Center export (JSON lines)."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crisiscenter.audit import audit_context
from crisiscenter.errors import ServiceError
from crisiscenter.models import Membership, Organization, Role
from monitoring import imports, services
from monitoring.models import IngestJob, JobKind


class Command(BaseCommand):
    help = "Replay a file of mentions (CrisisLexT6 CSV or a Crisis Center export) into an organisation's live pipeline."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="the organisation's slug")
        parser.add_argument("file", help="path of the CrisisLexT6 CSV or JSON-lines export")
        parser.add_argument("--speed", type=float, default=60.0, help="how many times faster than real time (default 60)")
        parser.add_argument("--format", dest="file_format", choices=[imports.FileFormat.CRISISLEX, imports.FileFormat.EXPORT, imports.FileFormat.JSONL])
        parser.add_argument("--as", dest="username", help="the admin the drill is started as (default: the organisation's first owner or admin)")
        parser.add_argument("--wait", action="store_true", help="stay and print progress until the replay ends")

    def handle(self, *args, organization, file, speed, file_format, username, wait, **options):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            raise CommandError(f"No organisation with the slug {organization!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        memberships = Membership.objects.for_organization(org).select_related("user", "organization").filter(role__in=[Role.OWNER, Role.ADMIN])
        membership = memberships.filter(user__username=username).first() if username else memberships.order_by("user__date_joined").first()
        if membership is None:
            raise CommandError("The drill needs an owner or admin of the organisation to run as (use --as).")
        with audit_context(source="command:drill"):
            try:
                job = services.job_create(
                    organization=org, actor_membership=membership, kind=JobKind.DRILL, file_name=path.name,
                    content=path.read_bytes(), file_format=file_format, speed=speed,
                )
            except ServiceError as error:
                raise CommandError(error.message) from None
        self.stdout.write(self.style.SUCCESS(f"Drill {job.pk} queued: {job.total} mentions from {path.name} at {speed:g}× speed."))
        self.stdout.write(f"Follow it at /o/{org.slug}/imports/{job.pk}/ and in the inbox.")
        if wait:
            while True:
                job = IngestJob.unscoped.defer("content").get(pk=job.pk)
                self.stdout.write(f"  {job.status}: {job.position}/{job.total} (stored {job.stored}, duplicates {job.duplicates}, rejected {job.rejected})")
                if job.is_finished():
                    break
                time.sleep(2)
