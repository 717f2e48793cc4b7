"""Incident pages: the list, opening one, and the incident room with its live parts."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crisiscenter import selectors as tenancy_selectors
from crisiscenter.access import organization_view
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Role
from playbooks import document as playbook_document
from playbooks import incident_selectors, incident_services, selectors
from playbooks.incident_api import timeline_csv
from playbooks.models import IncidentStatus, MistakeBy, Platform, Severity, TimelineKind
from responses import selectors as response_selectors

ROOM_PARTS = ("header", "facts", "roles", "tasks", "timeline", "statements")


class IncidentOpenForm(forms.Form):
    title = forms.CharField(max_length=200)
    playbook = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Playbook")
    severity = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, choices=[("", "The playbook's default")] + list(Severity.choices))
    origin_platform = forms.ChoiceField(choices=Platform.choices, initial=Platform.X, label="Where it started")
    origin_url = forms.URLField(required=False, max_length=500, label="Link to where it started", assume_scheme="https")
    what_happened = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="What happened")

    def __init__(self, *args, playbooks, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["playbook"].choices = [("", "No playbook")] + [(p.pk, p.name) for p in playbooks]


class FactsForm(forms.Form):
    what_happened = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="What happened")
    mistake_by = forms.ChoiceField(choices=MistakeBy.choices, label="Was a mistake made, and by whom?")
    what_went_wrong = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="What exactly went wrong")
    started_at = forms.DateTimeField(required=False, label="When it started (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    who_is_affected = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Who is affected")
    damage = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="How much damage")
    known = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="What we know")
    unknown = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="What we don't know yet")


def _incident_or_404(request: HttpRequest, incident_id: int):
    incident = incident_selectors.incident_of(organization=request.organization, incident_id=incident_id)
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _done(request: HttpRequest, incident, message: str | None = None) -> HttpResponse:
    if message:
        messages.success(request, message)
    return redirect("incident", slug=request.organization.slug, incident_id=incident.pk)


def _failed(request: HttpRequest, incident, error: ServiceError) -> HttpResponse:
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message)
    messages.error(request, error.message)
    return redirect("incident", slug=request.organization.slug, incident_id=incident.pk)


@organization_view(Role.VIEWER)
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    incidents = incident_selectors.incidents_of(organization=request.organization)
    return render(
        request,
        "incidents/list.html",
        {
            "open_incidents": [i for i in incidents if i.is_open()],
            "past_incidents": [i for i in incidents if not i.is_open()][:50],
            "can_open": request.membership.has_role(Role.RESPONDER),
        },
    )


@organization_view(Role.RESPONDER)
@require_http_methods(["GET", "POST"])
def incident_new(request: HttpRequest) -> HttpResponse:
    playbooks = list(selectors.playbooks_of(organization=request.organization))
    initial = {"playbook": request.GET.get("playbook")} if request.GET.get("playbook", "").isdigit() else {}
    form = IncidentOpenForm(request.POST or None, playbooks=playbooks, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        playbook = next((p for p in playbooks if p.pk == data["playbook"]), None)
        try:
            incident = incident_services.incident_open(
                organization=request.organization,
                actor_membership=request.membership,
                title=data["title"],
                playbook=playbook,
                severity=data["severity"],
                origin_platform=data["origin_platform"],
                origin_url=data["origin_url"],
                what_happened=data["what_happened"],
            )
        except ServiceError as error:
            if isinstance(error, NotAllowed):
                raise PermissionDenied(error.message) from None
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Incident opened. The checklist is below; the clock is running.")
            return redirect("incident", slug=request.organization.slug, incident_id=incident.pk)
    return render(request, "incidents/new.html", {"form": form}, status=400 if form.errors else 200)


def _room_context(request: HttpRequest, incident) -> dict:
    kinds = [kind for kind in request.GET.getlist("kind") if kind in TimelineKind.values]
    members = tenancy_selectors.organization_members(organization=request.organization)
    return {
        "incident": incident,
        "roles": incident_selectors.incident_roles(incident=incident),
        "tasks": incident_selectors.incident_tasks(incident=incident),
        "timeline": incident_selectors.incident_timeline(incident=incident, kinds=kinds or None),
        "timeline_kinds": TimelineKind.choices,
        "selected_kinds": kinds,
        "members": members,
        "role_choices": playbook_document.PlaybookRole.CHOICES,
        "role_labels": playbook_document.PlaybookRole.LABELS,
        "statuses": [status for status in IncidentStatus if incident.can_move_to(status)],
        "severities": Severity.choices,
        "can_work": request.membership.has_role(Role.RESPONDER),
        "can_lead": request.membership.has_role(Role.MANAGER) or incident_services.is_incident_lead(incident, request.user),
        "facts_form": FactsForm(initial={field: getattr(incident, field) for field in incident_services.FACT_FIELDS}),
        "voice_rules": (incident.playbook_version.document.get("voice_rules", []) if incident.playbook_version else []),
        "key_messages": (incident.playbook_version.document.get("key_messages", []) if incident.playbook_version else []),
        # The statements panel (templates/responses/_incident_statements.html).
        "statements": response_selectors.statements_of(incident=incident),
        "promises": response_selectors.promises_of(incident=incident),
        "promise_next": "incident",
    }


@organization_view(Role.VIEWER)
@require_GET
def incident_room(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    part = request.GET.get("part")
    if part is not None:
        if part not in ROOM_PARTS:
            raise Http404("No such part.")
        return render(request, f"incidents/_{part}.html", _room_context(request, incident))
    return render(request, "incidents/room.html", _room_context(request, incident))


@organization_view(Role.VIEWER)
@require_GET
def incident_timeline_export(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    kinds = [kind for kind in request.GET.getlist("kind") if kind in TimelineKind.values]
    return timeline_csv(incident, incident_selectors.incident_timeline(incident=incident, kinds=kinds or None))


@organization_view(Role.RESPONDER)
@require_POST
def incident_acknowledge(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    try:
        incident_services.incident_acknowledge(incident=incident, actor_membership=request.membership)
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident, "Acknowledged.")


@organization_view(Role.RESPONDER)
@require_POST
def incident_status(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    try:
        incident_services.incident_change_status(incident=incident, actor_membership=request.membership, status=request.POST.get("status", ""), note=request.POST.get("note", "")[:1000])
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident)


@organization_view(Role.RESPONDER)
@require_POST
def incident_severity(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    value = request.POST.get("severity", "")
    if not value.isdigit():
        messages.error(request, "Choose a severity from 1 to 4.")
        return _done(request, incident)
    try:
        incident_services.incident_change_severity(incident=incident, actor_membership=request.membership, severity=int(value), reason=request.POST.get("reason", "")[:1000])
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident)


@organization_view(Role.RESPONDER)
@require_POST
def incident_facts(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    form = FactsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The fact sheet has errors: " + "; ".join(f"{form.fields[f].label}: {e[0]}" for f, e in form.errors.items()))
        return _done(request, incident)
    try:
        incident_services.incident_update_facts(incident=incident, actor_membership=request.membership, changes=form.cleaned_data)
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident, "Fact sheet saved.")


def _optional_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@organization_view(Role.RESPONDER)
@require_POST
def incident_role(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    try:
        incident_services.incident_assign_role(
            incident=incident, actor_membership=request.membership, role=request.POST.get("role", ""),
            member_id=_optional_id(request.POST.get("member")), backup_id=_optional_id(request.POST.get("backup")),
        )
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident)


@organization_view(Role.RESPONDER)
@require_POST
def incident_task_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    try:
        incident_services.task_add(
            incident=incident, actor_membership=request.membership, title=request.POST.get("title", ""),
            role=request.POST.get("role", ""), owner_id=_optional_id(request.POST.get("owner")),
        )
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident)


@organization_view(Role.RESPONDER)
@require_POST
def incident_task_done(request: HttpRequest, incident_id: int, task_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    task = incident_selectors.incident_task(incident=incident, task_id=task_id)
    if task is None:
        raise Http404("No such task.")
    try:
        incident_services.task_set_done(task=task, actor_membership=request.membership, done=request.POST.get("done", "1") == "1")
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident)


@organization_view(Role.RESPONDER)
@require_POST
def incident_note(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    occurred_at = None
    if request.POST.get("occurred_at"):
        field = forms.DateTimeField()
        try:
            occurred_at = field.clean(request.POST["occurred_at"])
        except forms.ValidationError:
            messages.error(request, "Give the time it happened as YYYY-MM-DD HH:MM.")
            return _done(request, incident)
    try:
        incident_services.note_add(incident=incident, actor_membership=request.membership, text=request.POST.get("text", ""), occurred_at=occurred_at)
    except ServiceError as error:
        return _failed(request, incident, error)
    return _done(request, incident)


class ReviewForm(forms.Form):
    went_well = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label="What went well")
    to_change = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label="What to change")


class ActionItemForm(forms.Form):
    title = forms.CharField(max_length=300, required=False, label="Action item")
    owner = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Owner")
    due = forms.DateField(required=False, label="Due", widget=forms.DateInput(attrs={"type": "date"}))
    done = forms.BooleanField(required=False, label="Done")

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Nobody yet")] + list(owners)


ActionItemFormSet = forms.formset_factory(ActionItemForm, extra=3, max_num=50)


def _review_context(request: HttpRequest, incident, review_form=None, items=None) -> dict:
    review = incident_selectors.review_of(incident=incident)
    members = list(tenancy_selectors.organization_members(organization=request.organization))
    owners = [(m.user_id, str(m.user)) for m in members]
    names = dict(owners)
    if items is None:
        initial = [{"title": i["title"], "owner": i["owner_id"], "due": i["due"], "done": i["done"]} for i in (review.action_items if review else [])]
        items = ActionItemFormSet(initial=initial, form_kwargs={"owners": owners}, prefix="items")
    return {
        "incident": incident,
        "review": review,
        "measurements": incident_selectors.review_measurements(incident=incident),
        "role_labels": playbook_document.PlaybookRole.LABELS,
        "review_form": review_form or ReviewForm(initial={"went_well": review.went_well if review else "", "to_change": review.to_change if review else ""}),
        "items": items,
        "owner_names": names,
        "can_write": request.membership.has_role(Role.RESPONDER) and incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED),
        "can_propose": request.membership.has_role(Role.RESPONDER) and incident.playbook_id is not None,
    }


@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def incident_review(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    if request.method == "POST":
        if not request.membership.has_role(Role.RESPONDER):
            raise PermissionDenied("Viewers read the review; responders and up write it.")
        owners = [(m.user_id, str(m.user)) for m in tenancy_selectors.organization_members(organization=request.organization)]
        review_form = ReviewForm(request.POST)
        items = ActionItemFormSet(request.POST, form_kwargs={"owners": owners}, prefix="items")
        if review_form.is_valid() and items.is_valid():
            action_items = [
                {"title": form.cleaned_data["title"], "owner_id": form.cleaned_data["owner"], "due": form.cleaned_data["due"].isoformat() if form.cleaned_data["due"] else None, "done": form.cleaned_data["done"]}
                for form in items if form.cleaned_data.get("title")
            ]
            try:
                incident_services.review_save(incident=incident, actor_membership=request.membership, action_items=action_items, **review_form.cleaned_data)
            except ServiceError as error:
                if isinstance(error, NotAllowed):
                    raise PermissionDenied(error.message) from None
                messages.error(request, error.message)
            else:
                messages.success(request, "Review saved.")
                return redirect("incident-review", slug=request.organization.slug, incident_id=incident.pk)
        return render(request, "incidents/review.html", _review_context(request, incident, review_form, items), status=400)
    return render(request, "incidents/review.html", _review_context(request, incident))


@organization_view(Role.VIEWER)
@require_GET
def incident_review_export(request: HttpRequest, incident_id: int) -> HttpResponse:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    incident = _incident_or_404(request, incident_id)
    body = json.dumps(incident_selectors.review_export(incident=incident), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.pk}-review.json"'
    return response


@organization_view(Role.RESPONDER)
@require_POST
def incident_propose(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    try:
        incident_services.proposal_create(incident=incident, actor_membership=request.membership, text=request.POST.get("text", ""))
    except ServiceError as error:
        if isinstance(error, NotAllowed):
            raise PermissionDenied(error.message) from None
        messages.error(request, error.message)
    else:
        messages.success(request, "Proposed. The playbook's admins will see it on the playbook page.")
    return redirect("incident-review", slug=request.organization.slug, incident_id=incident.pk)
