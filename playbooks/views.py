"""Playbook pages: list, read (any version), compare, edit as YAML, import, export."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import APIException

from crisiscenter.access import organization_view
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Role
from playbooks import document as playbook_document
from playbooks import selectors, services
from playbooks.api import export_response

BLANK_DOCUMENT = {
    "format": playbook_document.FORMAT,
    "name": "New playbook",
    "category": "other",
    "default_severity": 3,
    "scenario": "What happens, who is hurt, how it usually starts.",
    "escalation": [
        {"severity": severity, "first_statement_due_minutes": minutes, "approvals_required": 1, "approver_roles": ["approver_manager"], "notify_roles": ["incident_lead"]}
        for severity, minutes in ((1, 15), (2, 30), (3, 60), (4, 240))
    ],
    "roles": [{"role": "incident_lead", "member": None, "backup": None}],
    "checklist": [{"title": "Publish the holding statement on the platform where it started", "role": "spokesperson", "due_minutes": 15}],
}


class PlaybookEditForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false", "class": "code"}), label="Playbook (YAML)")
    change_note = forms.CharField(max_length=300, required=False, label="What changed and why")


class ImportForm(forms.Form):
    file = forms.FileField(label="Playbook file (YAML or JSON)")


def _playbook_or_404(request: HttpRequest, playbook_id: int):
    playbook = selectors.playbook_of(organization=request.organization, playbook_id=playbook_id)
    if playbook is None:
        raise Http404("No such playbook.")
    return playbook


def _refuse(error: ServiceError) -> None:
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message)


@organization_view(Role.VIEWER)
@require_GET
def playbook_list(request: HttpRequest) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    return render(
        request,
        "playbooks/list.html",
        {
            "playbooks": selectors.playbooks_of(organization=request.organization, include_archived=show_archived),
            "starters": selectors.starter_documents(),
            "can_edit": request.membership.has_role(Role.ADMIN),
            "show_archived": show_archived,
            "import_form": ImportForm(),
            "categories": playbook_document.Category.LABELS,
        },
    )


def _edit(request: HttpRequest, playbook=None) -> HttpResponse:
    if playbook is None:
        initial = playbook_document.to_yaml(BLANK_DOCUMENT)
    else:
        initial = playbook_document.to_yaml(selectors.playbook_version(playbook=playbook).document)
    form = PlaybookEditForm(request.POST or None, initial={"content": initial})
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            document = playbook_document.parse(form.cleaned_data["content"])
            if playbook is None:
                playbook = services.playbook_create(
                    organization=request.organization, actor_membership=request.membership, document=document, change_note=form.cleaned_data["change_note"]
                )
                messages.success(request, f"Playbook “{playbook.name}” created.")
            else:
                previous = playbook.latest_version_number
                version = services.playbook_update(
                    playbook=playbook, actor_membership=request.membership, document=document, change_note=form.cleaned_data["change_note"]
                )
                if version.number > previous:
                    messages.success(request, f"Saved as version {version.number}.")
                else:
                    messages.info(request, f"Nothing changed; still version {version.number}.")
            return redirect("playbook", slug=request.organization.slug, playbook_id=playbook.pk)
        except playbook_document.DocumentError as error:
            problems = error.problems
        except services.PlaybookInvalid as error:
            problems = error.problems
        except ServiceError as error:
            _refuse(error)
            problems = [playbook_document.Problem(error.field or "", error.message)]
    return render(
        request,
        "playbooks/edit.html",
        {
            "form": form,
            "playbook": playbook,
            "problems": problems,
            "categories": playbook_document.Category.CHOICES,
            "roles": playbook_document.PlaybookRole.CHOICES,
            "placeholders": playbook_document.PLACEHOLDERS,
        },
        status=400 if problems or form.errors else 200,
    )


@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def playbook_new(request: HttpRequest) -> HttpResponse:
    return _edit(request)


@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def playbook_edit(request: HttpRequest, playbook_id: int) -> HttpResponse:
    return _edit(request, _playbook_or_404(request, playbook_id))


@organization_view(Role.ADMIN)
@require_POST
def playbook_from_starter(request: HttpRequest) -> HttpResponse:
    try:
        playbook = services.playbook_create_from_starter(
            organization=request.organization, actor_membership=request.membership, starter=request.POST.get("starter", "")
        )
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return redirect("playbooks", slug=request.organization.slug)
    messages.success(request, f"Playbook “{playbook.name}” created from the starter. Fill in the roles next.")
    return redirect("playbook", slug=request.organization.slug, playbook_id=playbook.pk)


@organization_view(Role.ADMIN)
@require_POST
def playbook_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a YAML or JSON file to import.")
        return redirect("playbooks", slug=request.organization.slug)
    upload = form.cleaned_data["file"]
    try:
        if upload.size > playbook_document.MAX_DOCUMENT_BYTES:
            raise services.PlaybookInvalid([playbook_document.Problem("", f"the file is larger than {playbook_document.MAX_DOCUMENT_BYTES // 1024} KB")])
        playbook = services.playbook_import(organization=request.organization, actor_membership=request.membership, content=upload.read())
    except services.PlaybookInvalid as error:
        return render(
            request,
            "playbooks/import_failed.html",
            {"problems": error.problems, "filename": upload.name},
            status=400,
        )
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return redirect("playbooks", slug=request.organization.slug)
    messages.success(request, f"Imported “{playbook.name}”.")
    return redirect("playbook", slug=request.organization.slug, playbook_id=playbook.pk)


@organization_view(Role.VIEWER)
@require_GET
def playbook_detail(request: HttpRequest, playbook_id: int, number: int | None = None) -> HttpResponse:
    playbook = _playbook_or_404(request, playbook_id)
    version = selectors.playbook_version(playbook=playbook, number=number)
    if version is None:
        raise Http404("No such version.")
    document = version.document
    return render(
        request,
        "playbooks/detail.html",
        {
            "playbook": playbook,
            "version": version,
            "document": document,
            "versions": selectors.playbook_versions(playbook=playbook),
            "can_edit": request.membership.has_role(Role.ADMIN),
            "category_label": playbook_document.Category.LABELS.get(document["category"], document["category"]),
            "role_labels": playbook_document.PlaybookRole.LABELS,
        },
    )


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---", "@@")):
        return "context"
    return {"+": "added", "-": "removed"}.get(line[:1], "")


@organization_view(Role.VIEWER)
@require_GET
def playbook_diff(request: HttpRequest, playbook_id: int) -> HttpResponse:
    playbook = _playbook_or_404(request, playbook_id)
    older_number, newer_number = request.GET.get("from", ""), request.GET.get("to", "")
    if not (older_number.isdigit() and newer_number.isdigit()):
        raise Http404("Choose two versions to compare.")
    older = selectors.playbook_version(playbook=playbook, number=int(older_number))
    newer = selectors.playbook_version(playbook=playbook, number=int(newer_number))
    if older is None or newer is None:
        raise Http404("No such version.")
    return render(
        request,
        "playbooks/diff.html",
        {"playbook": playbook, "older": older, "newer": newer, "diff": [(line, _diff_kind(line)) for line in selectors.version_diff(older=older, newer=newer)]},
    )


@organization_view(Role.VIEWER)
@require_GET
def playbook_export(request: HttpRequest, playbook_id: int, file_format: str) -> HttpResponse:
    playbook = _playbook_or_404(request, playbook_id)
    try:
        return export_response(playbook, file_format, request.GET.get("version"))
    except APIException as error:
        raise Http404(str(error.detail)) from None


@organization_view(Role.ADMIN)
@require_POST
def playbook_archive(request: HttpRequest, playbook_id: int) -> HttpResponse:
    playbook = _playbook_or_404(request, playbook_id)
    archived = request.POST.get("archived") == "1"
    services.playbook_set_archived(playbook=playbook, actor_membership=request.membership, archived=archived)
    messages.success(request, f"“{playbook.name}” {'archived' if archived else 'restored'}.")
    return redirect("playbook", slug=request.organization.slug, playbook_id=playbook.pk)


@organization_view(Role.ADMIN)
@require_POST
def playbook_proposal_decide(request: HttpRequest, playbook_id: int, proposal_id: int) -> HttpResponse:
    from playbooks import incident_selectors, incident_services

    playbook = _playbook_or_404(request, playbook_id)
    proposal = incident_selectors.proposals_for(playbook=playbook).filter(pk=proposal_id).first()
    if proposal is None:
        raise Http404("No such proposal.")
    try:
        incident_services.proposal_decide(proposal=proposal, actor_membership=request.membership, status=request.POST.get("status", ""))
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    return redirect("playbook", slug=request.organization.slug, playbook_id=playbook.pk)
