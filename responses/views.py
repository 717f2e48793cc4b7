"""Statement pages: an incident's statements and the composer, one statement (versions, diff,
approval, publications, translations), the approver's phone list, publishing settings and
policy, replies from the inbox's mention page, and the scheduled posts' queue.

Server-rendered and complete without JavaScript; static/js/statement_composer.js adds the live
counters and tone advice, static/js/statement_page.js re-renders the live parts."""

from __future__ import annotations

import unicodedata

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.db.models import prefetch_related_objects
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crisiscenter import selectors as tenancy_selectors
from crisiscenter.access import organization_view
from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import Membership, Role
from playbooks import incident_selectors
from playbooks.models import IncidentStatus
from monitoring import selectors as monitoring_selectors
from monitoring.models import Mention
from monitoring.views import safe_link
from responses import diff, policy, reply_services, schedule_services, selectors, services, tone
from responses.channels import bluesky as bluesky_channel
from responses.channels import mastodon as mastodon_channel
from responses.channels.base import OutboundPost
from responses.channels.webhook import MIN_SECRET_LENGTH, SIGNATURE_HEADER, shown_address
from responses.channels.x import XChannel
from responses.models import (
    BUILTIN_CHANNEL_KINDS,
    ApprovalDecision,
    ChannelKind,
    PublicStatus,
    PublishingChannel,
    ScheduledPost,
    ScheduledPostStatus,
    Statement,
    StatementKind,
    StatementStatus,
)

PROMISE_ROWS = 3
STATEMENT_PARTS = ("status", "approval", "publications", "versions")
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
HUB_FIELDS = ("what_happened", "known", "unknown", "what_to_do")


# --- forms -----------------------------------------------------------------------------------
class StatementFieldsForm(forms.Form):
    """The words of a statement: what a draft starts with and an edit changes."""

    headline = forms.CharField(max_length=200, required=False, label="Headline")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 7}), max_length=services.MAX_BODY, label="Text")
    question = forms.CharField(max_length=500, required=False, label="Question (FAQ answers)")
    what_happened = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What happened")
    known = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What we know")
    unknown = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What we don't know yet")
    what_to_do = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What you should do")
    public_status = forms.ChoiceField(choices=PublicStatus.choices, initial=PublicStatus.INVESTIGATING, label="Public status")
    next_update_at = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="Next update (UTC)")
    spokesperson = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Spokesperson")
    target_channels = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False, label="Publish on")

    def __init__(self, *args, members, channel_choices, promise_count: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["spokesperson"].choices = [("", "Nobody named")] + [(m.user_id, str(m.user)) for m in members]
        self.fields["target_channels"].choices = channel_choices
        self.promise_row_count = self._promise_row_count(promise_count)
        for index in range(self.promise_row_count):
            self.fields[f"promise_{index}_text"] = forms.CharField(max_length=500, required=False, label=f"Promise {index + 1}")
            self.fields[f"promise_{index}_due"] = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label=f"Promise {index + 1} deadline (UTC)")

    def _promise_row_count(self, promise_count: int) -> int:
        """A row for each of the version's promises and two free ones (at least PROMISE_ROWS,
        at most what a version holds), so that saving the page never drops a promise. A posted
        form has the rows the page showed."""
        if self.is_bound:
            posted = [index for index in range(services.MAX_PROMISES) if self.add_prefix(f"promise_{index}_text") in self.data]
            return max(PROMISE_ROWS, max(posted, default=-1) + 1)
        return min(services.MAX_PROMISES, max(PROMISE_ROWS, promise_count + 2))

    def clean(self):
        data = super().clean()
        if "target_channels" in data and not data["target_channels"]:
            self.add_error("target_channels", "Choose at least one channel.")
        for index in range(self.promise_row_count):
            text, due = data.get(f"promise_{index}_text"), data.get(f"promise_{index}_due")
            if bool(text) != bool(due):
                self.add_error(f"promise_{index}_text", "Give a promise both its text and its deadline.")
        return data

    def promises(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {"text": data[f"promise_{index}_text"], "due_at": data[f"promise_{index}_due"].isoformat()}
            for index in range(self.promise_row_count)
            if data.get(f"promise_{index}_text") and data.get(f"promise_{index}_due")
        ]

    def service_fields(self) -> dict:
        data = self.cleaned_data
        fields = {name: data.get(name, "") for name in ("headline", "body", "question", *HUB_FIELDS, "public_status")}
        fields["next_update_at"] = data.get("next_update_at")
        fields["promises"] = self.promises()
        return fields

    def promise_rows(self):
        return [(self[f"promise_{index}_text"], self[f"promise_{index}_due"]) for index in range(self.promise_row_count)]


class ComposerForm(StatementFieldsForm):
    kind = forms.ChoiceField(choices=StatementKind.choices, initial=StatementKind.HOLDING, label="Kind")
    language = forms.RegexField(regex=services.LANGUAGE_PATTERN, max_length=16, initial="en", label="Language",
                                error_messages={"invalid": "Give the language as a code such as en, nl or pt-BR."})
    template = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, widget=forms.RadioSelect, label="Start from a template")
    corrects = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Corrects")

    def __init__(self, *args, templates, published, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "Blank")] + [(index, template["name"]) for index, template in enumerate(templates)]
        self.fields["corrects"].choices = [("", "—")] + [(statement.pk, str(statement)) for statement in published]
        # The body may stay empty when a template fills it.
        self.fields["body"].required = False

    def clean(self):
        data = super().clean()
        if not data.get("body") and data.get("template") is None:
            self.add_error("body", "Write the statement's text, or start from a template.")
        if data.get("kind") == StatementKind.CORRECTION and not data.get("corrects"):
            self.add_error("corrects", "Choose the published statement this corrects.")
        return data


class EditForm(StatementFieldsForm):
    base_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)
    change_note = forms.CharField(max_length=300, required=False, label="What changed (for the approvers)")


class TranslationForm(forms.Form):
    language = forms.RegexField(regex=services.LANGUAGE_PATTERN, max_length=16, label="Language",
                                error_messages={"invalid": "Give the language as a code such as en, nl or pt-BR."})
    headline = forms.CharField(max_length=200, required=False, label="Headline")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=services.MAX_BODY, label="Text")
    question = forms.CharField(max_length=500, required=False, label="Question (FAQ answers)")
    what_happened = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What happened")
    known = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What we know")
    unknown = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What we don't know yet")
    what_to_do = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, required=False, label="What you should do")


class DecisionForm(forms.Form):
    """An approver's decision; the version read is checked apart (see statement_decide)."""

    decision = forms.ChoiceField(choices=ApprovalDecision.choices, label="Decision",
                                 error_messages={"required": "Approve or reject.", "invalid_choice": "Approve or reject."})
    comment = forms.CharField(max_length=4000, required=False, label="Comment")


class LockdownForm(forms.Form):
    # The service asks for a reason; the form only keeps out what the database cannot hold.
    reason = forms.CharField(max_length=300, required=False, label="Reason")


# --- helpers ---------------------------------------------------------------------------------
def _decimal_id(value: str) -> int | None:
    # ASCII digits only: "²".isdigit() is true, int("²") is not.
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _form_problems(form: forms.Form) -> str:
    """A bound form's errors as one sentence for a message."""
    return " ".join(f"{form.fields[name].label}: {' '.join(errors)}" if name in form.fields else " ".join(errors) for name, errors in form.errors.items())


def _incident_or_404(request: HttpRequest, incident_id: int):
    incident = incident_selectors.incident_of(organization=request.organization, incident_id=incident_id)
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _statement_or_404(request: HttpRequest, incident_id: int, statement_id: int) -> Statement:
    statement = selectors.statement_of(organization=request.organization, statement_id=statement_id)
    if statement is None or statement.incident_id != incident_id:
        raise Http404("No such statement.")
    return statement


def _refuse(error: ServiceError):
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message)


def _statement_redirect(request: HttpRequest, statement: Statement) -> HttpResponse:
    return redirect("statement", slug=request.organization.slug, incident_id=statement.incident_id, statement_id=statement.pk)


def _document(incident) -> dict:
    return incident.playbook_version.document if incident.playbook_version_id else {}


def _channel_choices(incident) -> list[tuple[str, str]]:
    """The channel kinds this organisation can publish to, the incident's origin first, then
    the hub (the order statements are published in)."""
    accounts = PublishingChannel.objects.for_organization(incident.organization_id).filter(is_enabled=True).exclude(kind__in=BUILTIN_CHANNEL_KINDS)
    kinds = list(BUILTIN_CHANNEL_KINDS) + [kind for kind in ChannelKind.values if kind in set(accounts.values_list("kind", flat=True))]
    origin = services.CHANNEL_FOR_PLATFORM.get(incident.origin_platform)
    kinds.sort(key=lambda kind: (kind != origin, kind != ChannelKind.HUB, ChannelKind.values.index(kind)))
    return [(kind, ChannelKind(kind).label + (" (where it started)" if kind == origin else "")) for kind in kinds]


def _default_channels(incident, choices) -> list[str]:
    available = {kind for kind, _label in choices}
    origin = services.CHANNEL_FOR_PLATFORM.get(incident.origin_platform)
    return ([origin] if origin in available else []) + [ChannelKind.HUB]


def _voice(incident) -> dict:
    document = _document(incident)
    rules = document.get("voice_rules", []) or []
    checked = set(tone.checkable_voice_rules(rules))
    return {
        "key_messages": document.get("key_messages", []) or [],
        "voice_rules": [{"kind": rule.get("kind"), "rule": rule.get("rule"), "checked": index in checked} for index, rule in enumerate(rules) if isinstance(rule, dict)],
        "tone_languages": sorted(tone.LANGUAGES.values()),
    }


def _findings(statement: Statement) -> list[dict]:
    """The tone advice on the current version, field by field, exactly as the API gives it
    (an apology is looked for when the incident's mistake is owned)."""

    labels = diff.FIELD_LABELS
    return [{**finding, "field_label": labels.get(finding.get("field") or "", "")} for finding in selectors.statement_tone(statement)["findings"]]


def _x_posts(statement: Statement, version) -> int | None:
    """How many X posts this version becomes (the link to the hub included), when it goes to X."""
    if version is None or ChannelKind.X not in statement.target_channels:
        return None
    text = f"{version.headline}\n\n{version.body}" if version.headline and statement.kind != StatementKind.REPLY_TEMPLATE else version.body
    link = services.hub_url(statement.incident.organization.slug, "incident") if ChannelKind.HUB in statement.target_channels else ""
    try:
        return len(XChannel(config={}, credentials={}).split(OutboundPost(text=text, link=link)))
    except ValueError:
        return None


def _publish_refusal(statement: Statement, membership: Membership) -> str:
    """'' when this member may publish the statement on all its channels now, else why not."""
    return " ".join(services.publish_refusals(statement, membership))


def _approval_context(statement: Statement, membership: Membership, members: dict | None = None) -> dict:
    """The approval policy with its holders, the decisions, and what this member may decide.
    ``members`` (user id -> user) spares a query per statement on lists."""
    review_policy = policy.approval_policy(statement.incident)
    described = review_policy.describe()
    if members is None:
        members = _members_by_id(statement.incident.organization)
    for role in described["roles"]:
        role["holders"] = [members[user_id] for user_id in role["holder_ids"] if user_id in members]
    version = statement.current_version
    approvals = list(selectors.approvals_of(statement=statement))
    labels = {role["role"]: role["label"] for role in described["roles"]}
    for approval in approvals:
        approval.role_labels = [labels.get(role, role) for role in approval.roles]
    current = [approval for approval in approvals if approval.version_id == statement.current_version_id]
    voided = [approval for approval in approvals if approval.version_id != statement.current_version_id]
    decided = any(approval.approver_id == membership.user_id for approval in current)
    is_author = version is not None and version.author_id == membership.user_id
    # may_approve keeps viewers out even when they hold an approver role on the incident.
    may_decide = statement.status == StatementStatus.IN_REVIEW and not is_author and not decided and review_policy.may_approve(membership)
    # Approve-and-publish is offered when this approval would complete the policy and the
    # approver may publish on every channel.
    may_approve_and_publish = may_decide and services.would_complete(statement, membership) and not services.publish_refusals(statement, membership)
    return {
        "policy": described,
        "approvals": current,
        "voided_approvals": voided,
        "may_decide": may_decide,
        "is_author": is_author,
        "already_decided": decided,
        "may_approve_and_publish": may_approve_and_publish,
    }


def _members_by_id(organization) -> dict:
    return {m.user_id: m.user for m in tenancy_selectors.organization_members(organization=organization)}


def _statement_context(request: HttpRequest, statement: Statement, edit_form: EditForm | None = None, translation_form=None) -> dict:
    incident = statement.incident
    membership = request.membership
    version = statement.current_version
    can_work = membership.has_role(Role.RESPONDER) and incident.status != IncidentStatus.CLOSED
    members = list(tenancy_selectors.organization_members(organization=request.organization))
    channel_choices = _channel_choices(incident)
    if edit_form is None and can_work and version is not None:
        initial = {field: getattr(version, field) for field in ("headline", "body", "question", *HUB_FIELDS, "public_status", "next_update_at")}
        initial |= {"base_version": version.number, "spokesperson": version.spokesperson_id, "target_channels": statement.target_channels}
        promises = version.promises[:services.MAX_PROMISES]
        for index, promise in enumerate(promises):
            initial[f"promise_{index}_text"] = promise["text"]
            initial[f"promise_{index}_due"] = parse_datetime(promise["due_at"])
        edit_form = EditForm(initial=initial, members=members, channel_choices=channel_choices, promise_count=len(promises), prefix="edit")
    # The spokesperson is approved with each version's words, so each version names its own.
    versions = list(selectors.statement_versions(statement=statement).select_related("spokesperson"))
    publish_refusal = _publish_refusal(statement, membership) if statement.status == StatementStatus.APPROVED else ""
    return {
        "incident": incident,
        "statement": statement,
        "version": version,
        "versions": versions,
        # Newest version first, then in publishing order (the platform where it started first).
        "publications": sorted(selectors.publications_of(statement=statement), key=lambda p: (-p.version.number, p.position)),
        "translations": Statement.objects.for_organization(request.organization).filter(translation_of=statement.translation_of or statement)
        .select_related("current_version").order_by("language"),
        "corrections": Statement.objects.for_organization(request.organization).filter(corrects=statement).select_related("current_version"),
        "findings": _findings(statement) if version is not None else [],
        "tone_covered": tone.is_covered(statement.language),
        "x_posts": _x_posts(statement, version),
        "channel_labels": [ChannelKind(kind).label for kind in statement.target_channels if kind in ChannelKind.values],
        "can_work": can_work,
        "edit_form": edit_form if can_work else None,
        "translation_form": (translation_form or TranslationForm(prefix="translation")) if can_work else None,
        "can_submit": can_work and statement.status == StatementStatus.DRAFT,
        "can_publish": statement.status == StatementStatus.APPROVED and not publish_refusal and membership.has_role(Role.RESPONDER),
        "publish_refusal": publish_refusal,
        "can_correct": can_work and statement.first_published_at is not None,
        **_approval_context(statement, membership, {m.user_id: m.user for m in members}),
        **_voice(incident),
    }


# --- an incident's statements and the composer -----------------------------------------------
@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def statements(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    if request.method == "POST" and not request.membership.has_role(Role.RESPONDER):
        raise PermissionDenied("Writing statements needs the responder role or higher.")
    can_work = request.membership.has_role(Role.RESPONDER) and incident.status != IncidentStatus.CLOSED
    all_statements = list(selectors.statements_of(incident=incident))
    published = [statement for statement in all_statements if statement.first_published_at is not None]
    templates = _document(incident).get("holding_statements", []) or []
    members = tenancy_selectors.organization_members(organization=request.organization)
    channel_choices = _channel_choices(incident)
    form_arguments = {"members": members, "channel_choices": channel_choices, "templates": templates, "published": published}
    form = None
    status = 200
    if request.method == "POST":
        form = ComposerForm(request.POST, **form_arguments)
        if form.is_valid():
            data = form.cleaned_data
            try:
                statement = services.statement_draft(
                    incident=incident, actor_membership=request.membership, kind=data["kind"], language=data["language"],
                    template_index=data["template"] if not data.get("body") else None, spokesperson_id=data["spokesperson"],
                    target_channels=data["target_channels"], corrects_id=data["corrects"], fields=form.service_fields(),
                )
                if request.POST.get("then") == "submit":
                    statement = services.statement_submit(statement=statement, actor_membership=request.membership)
            except ServiceError as error:
                _refuse(error)
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                if statement.status == StatementStatus.IN_REVIEW:
                    messages.success(request, "Saved and sent for approval. The approvers have been told.")
                else:
                    messages.success(request, "Draft saved. Send it for approval when it is ready.")
                return _statement_redirect(request, statement)
        status = 400
    elif can_work:
        initial = {"target_channels": _default_channels(incident, channel_choices), "language": "en", "kind": StatementKind.HOLDING}
        corrects = _decimal_id(request.GET.get("corrects", ""))
        if original := next((statement for statement in published if statement.pk == corrects), None):
            initial |= {"kind": StatementKind.CORRECTION, "corrects": original.pk, "language": original.language,
                        "headline": f"Correction: {original.current_version.headline}".strip()[:200] if original.current_version else "Correction"}
        form = ComposerForm(initial=initial, **form_arguments)
    if request.method == "GET" and request.GET.get("part") is not None:
        if request.GET["part"] != "list":
            raise Http404("No such part.")
        return render(request, "responses/_incident_statements.html", {
            "incident": incident, "statements": all_statements, "promises": selectors.promises_of(incident=incident), "can_work": can_work,
        })
    placeholders = services.template_placeholders(incident=incident, spokesperson=None)
    context = {
        "incident": incident,
        "statements": all_statements,
        "promises": selectors.promises_of(incident=incident),
        "form": form if (can_work or request.method == "POST") else None,
        "can_work": can_work,
        "templates": [{"index": index, "name": template.get("name", ""), "language": template.get("language", "en"),
                       "text": services.fill_template(template.get("text", ""), placeholders)} for index, template in enumerate(templates)],
        "hub_link": services.hub_url(request.organization.slug, "incident"),
        **_voice(incident),
    }
    return render(request, "responses/statements.html", context, status=status)


# --- one statement ---------------------------------------------------------------------------
@organization_view(Role.VIEWER)
@require_GET
def statement_detail(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    part = request.GET.get("part")
    context = _statement_context(request, statement)
    if part is not None:
        if part not in STATEMENT_PARTS:
            raise Http404("No such part.")
        return render(request, f"responses/_statement_{part}.html", context)
    return render(request, "responses/statement.html", context)


@organization_view(Role.RESPONDER)
@require_POST
def statement_edit(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    members = tenancy_selectors.organization_members(organization=request.organization)
    form = EditForm(request.POST, members=members, channel_choices=_channel_choices(statement.incident), prefix="edit")
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.statement_edit(
                statement=statement, actor_membership=request.membership, base_version=data["base_version"], fields=form.service_fields(),
                change_note=data["change_note"], spokesperson_id=data["spokesperson"], target_channels=data["target_channels"],
            )
        except Conflict as error:
            # Someone saved first: show their version, keep what this person typed.
            statement = _statement_or_404(request, incident_id, statement_id)
            form.add_error(None, f"{error.message} Your text is kept below: compare it with version {statement.current_version.number}, then save again.")
            data = form.data.copy()
            data[form.add_prefix("base_version")] = str(statement.current_version.number)
            kept = EditForm(data, members=members, channel_choices=_channel_choices(statement.incident), prefix="edit")
            kept.is_valid()
            kept.add_error(None, form.non_field_errors()[0])
            context = _statement_context(request, statement, edit_form=kept)
            context["conflict"] = True
            return render(request, "responses/statement.html", context, status=409)
        except ServiceError as error:
            _refuse(error)
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Saved as a new version." if statement.status != StatementStatus.IN_REVIEW else "Saved. Approvals of the earlier version no longer count.")
            return _statement_redirect(request, statement)
    return render(request, "responses/statement.html", _statement_context(request, statement, edit_form=form), status=400)


@organization_view(Role.RESPONDER)
@require_POST
def statement_submit(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    try:
        services.statement_submit(statement=statement, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, "Sent for approval. The approvers have been told.")
    return _statement_redirect(request, statement)


def _back_after_decision(request: HttpRequest, statement: Statement) -> HttpResponse:
    if request.POST.get("next") == "approvals":
        return redirect("approvals", slug=request.organization.slug)
    return _statement_redirect(request, statement)


@organization_view(Role.RESPONDER)
@require_POST
def statement_decide(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    """Approve, approve and publish, or request changes, of the version the approver read."""
    statement = _statement_or_404(request, incident_id, statement_id)
    version_number = _decimal_id(request.POST.get("version", ""))
    if version_number is None or version_number >= 2**31:
        messages.error(request, "Reload the page: it did not say which version you read.")
        return _back_after_decision(request, statement)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not recorded: {_form_problems(form)}")
        return _back_after_decision(request, statement)
    decision = form.cleaned_data["decision"]
    publish = request.POST.get("publish") == "1" and decision == ApprovalDecision.APPROVE
    try:
        statement = services.statement_decide(
            statement=statement, actor_membership=request.membership, version_number=version_number, decision=decision,
            comment=form.cleaned_data["comment"], publish=publish,
        )
    except Conflict as error:
        messages.error(request, f"Not recorded: {error.message}")
    except NotAllowed as error:
        if error.code != "publishing_not_allowed":
            raise PermissionDenied(error.message) from None
        # Rights changed since the page was drawn (a lockdown, a revoked grant): nothing was
        # recorded, and approving alone is still open.
        messages.error(request, f"Not recorded: you may not publish it now. {error.message} Approve only, and someone allowed publishes it.")
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if decision == ApprovalDecision.REJECT:
            messages.success(request, f"Changes requested on “{statement}”. The author has been told.")
        elif statement.status == StatementStatus.PUBLISHED:
            messages.success(request, f"Approved and publishing: “{statement}”.")
        elif statement.status == StatementStatus.APPROVED:
            messages.success(request, f"Approved: “{statement}”. It can be published now.")
        else:
            messages.success(request, f"Approved: “{statement}”. More approvals are needed.")
    return _back_after_decision(request, statement)


@organization_view(Role.RESPONDER)
@require_POST
def statement_publish(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    try:
        publications = services.statement_publish(statement=statement, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"Publishing on {len(publications)} channel{'s' if len(publications) != 1 else ''}; the results appear below.")
    return _statement_redirect(request, statement)


@organization_view(Role.RESPONDER)
@require_POST
def publication_retry(request: HttpRequest, incident_id: int, statement_id: int, publication_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    publication = selectors.publications_of(statement=statement).filter(pk=publication_id).first()
    if publication is None:
        raise Http404("No such publication.")
    try:
        services.publication_retry(publication=publication, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"Sending to {publication.channel.name} again; the result appears below.")
    return _statement_redirect(request, statement)


@organization_view(Role.RESPONDER)
@require_POST
def statement_translate(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    form = TranslationForm(request.POST, prefix="translation")
    if form.is_valid():
        data = form.cleaned_data
        fields = {name: data[name] for name in ("headline", "body", "question", *HUB_FIELDS) if data.get(name)}
        try:
            translation = services.statement_translate(statement=statement, actor_membership=request.membership, language=data["language"], fields=fields)
        except ServiceError as error:
            _refuse(error)
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Translation ({translation.language}) drafted. It is approved on its own.")
            return _statement_redirect(request, translation)
    return render(request, "responses/statement.html", _statement_context(request, statement, translation_form=form), status=400)


@organization_view(Role.VIEWER)
@require_GET
def statement_diff(request: HttpRequest, incident_id: int, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, incident_id, statement_id)
    versions = {version.number: version for version in selectors.statement_versions(statement=statement)}
    newest = max(versions) if versions else 0

    def number(name: str, default: int) -> int:
        value = _decimal_id(request.GET.get(name, ""))
        return default if value is None else value

    after_number = number("to", newest)
    before_number = number("from", after_number - 1)
    if after_number not in versions or (before_number not in versions and before_number != 0):
        raise Http404("No such version.")
    before, after = versions.get(before_number), versions[after_number]
    return render(request, "responses/diff.html", {
        "incident": statement.incident, "statement": statement, "before": before, "after": after,
        "changes": diff.version_diff(before, after), "versions": sorted(versions.values(), key=lambda v: v.number),
    })


@organization_view(Role.RESPONDER)
@require_POST
def promise_keep(request: HttpRequest, incident_id: int, promise_id: int) -> HttpResponse:
    incident = _incident_or_404(request, incident_id)
    promise = selectors.promise_of(organization=request.organization, promise_id=promise_id)
    if promise is None or promise.incident_id != incident.pk:
        raise Http404("No such promise.")
    try:
        services.promise_keep(promise=promise, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"Promise kept: {promise.text}")
    if request.POST.get("next") == "incident":
        return redirect("incident", slug=request.organization.slug, incident_id=incident.pk)
    return redirect("statements", slug=request.organization.slug, incident_id=incident.pk)


# --- the approver's list ---------------------------------------------------------------------
@organization_view(Role.VIEWER)
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    waiting = selectors.statements_awaiting(organization=request.organization, membership=request.membership)
    # Each card names the spokesperson approved with the words.
    prefetch_related_objects(waiting, "current_version__spokesperson")
    members = _members_by_id(request.organization)
    items = []
    for statement in waiting:
        context = _approval_context(statement, request.membership, members)
        items.append({"statement": statement, "version": statement.current_version, "x_posts": _x_posts(statement, statement.current_version),
                      "channel_labels": [ChannelKind(kind).label for kind in statement.target_channels if kind in ChannelKind.values], **context})
    others = len(selectors.statements_awaiting(organization=request.organization)) - len(items)
    return render(request, "responses/approvals.html", {"items": items, "others_waiting": max(0, others)})


# --- adding a channel ------------------------------------------------------------------------
def _refuse_control_characters(value: str) -> None:
    # NUL has Django's own check and message. The others (a tab, a line break pasted with a
    # token) would travel on to a platform's API, and nobody means them.
    if any(unicodedata.category(character) == "Cc" for character in value.replace("\x00", "")):
        raise forms.ValidationError("Control characters (tabs, line breaks…) are not allowed here.", code="control_characters")


def _setting(label: str, *, required: bool = False, help_text: str = "", max_length: int = 300, widget: forms.Widget | None = None) -> forms.CharField:
    return forms.CharField(label=label, required=required, max_length=max_length, help_text=help_text, validators=[_refuse_control_characters], widget=widget)


def _secret(label: str, *, required: bool = False, help_text: str = "") -> forms.CharField:
    """A credential: a password input that is never filled in again, not even after an error."""
    return forms.CharField(label=label, required=required, max_length=1000, help_text=help_text, validators=[_refuse_control_characters],
                           widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))


class _UnechoedURLInput(forms.URLInput):
    """A webhook's path is often its secret: after an error it is typed again rather than
    carried back in the page."""

    def format_value(self, value):
        return None


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=120, label="Name", help_text="How people choose it, e.g. “Acme on Mastodon”.", validators=[_refuse_control_characters])
    kind = forms.ChoiceField(label="Kind", choices=[("", "Choose…")] + [(kind, ChannelKind(kind).label) for kind in ChannelKind.values if kind not in BUILTIN_CHANNEL_KINDS])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="channel", **kwargs)


class ChannelSettingsForm(forms.Form):
    """One kind's settings, its fields named after the adapter's keys. The page binds only the
    chosen kind's form, so the fields of the other kinds are never read; the adapter checks
    the values (``services.channel_create``)."""

    kind: str = ""
    label: str = ""
    intro: str = ""
    config_keys: tuple[str, ...] = ()
    credential_keys: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        # Every kind's fields are on the page; without JavaScript a browser must not demand
        # the required ones of the kinds not chosen.
        super().__init__(*args, prefix=self.kind, use_required_attribute=False, **kwargs)

    def settings(self) -> tuple[dict, dict]:
        """(config, credentials) for the adapter; empty values left out, so its defaults apply."""
        def given(keys: tuple[str, ...]) -> dict:
            return {key: self.cleaned_data[key] for key in keys if self.cleaned_data.get(key) not in (None, "")}

        return given(self.config_keys), given(self.credential_keys)


class XChannelForm(ChannelSettingsForm):
    kind, label = ChannelKind.X.value, ChannelKind.X.label
    intro = "The four OAuth 1.0a keys of an app with read and write access, from the X developer portal."
    config_keys = ("handle",)
    credential_keys = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")

    handle = _setting("Account (optional)", max_length=40, help_text="@name, shown on this page.")
    consumer_key = _secret("API key (consumer key)")
    consumer_secret = _secret("API key secret (consumer secret)")
    access_token = _secret("Access token")
    access_token_secret = _secret("Access token secret")


class MastodonChannelForm(ChannelSettingsForm):
    kind, label = ChannelKind.MASTODON.value, ChannelKind.MASTODON.label
    config_keys = ("instance_url", "visibility", "max_characters")
    credential_keys = ("access_token",)

    instance_url = _setting("Server address", required=True, help_text="e.g. https://mastodon.social", widget=forms.URLInput)
    visibility = forms.ChoiceField(label="Visibility", initial="public",
                                   choices=[("public", "Public"), ("unlisted", "Unlisted (not in public timelines)")])
    max_characters = forms.IntegerField(label="Characters per post", required=False, min_value=100, max_value=100_000,
                                        initial=mastodon_channel.DEFAULT_MAX_CHARACTERS, help_text="Longer statements become a thread.")
    access_token = _secret("Access token", required=True, help_text="Preferences → Development → New application, with write:statuses.")


class BlueskyChannelForm(ChannelSettingsForm):
    kind, label = ChannelKind.BLUESKY.value, ChannelKind.BLUESKY.label
    config_keys = ("service_url",)
    credential_keys = ("handle", "app_password")

    service_url = _setting("Service address (optional)", help_text=f"{bluesky_channel.DEFAULT_SERVICE_URL} unless the account lives on its own server.",
                           widget=forms.URLInput)
    handle = _setting("Handle", required=True, max_length=253, help_text="e.g. acme.bsky.social")
    app_password = _secret("App password", required=True, help_text="Settings → Privacy and security → App passwords; never the account's own password.")


class WebhookChannelForm(ChannelSettingsForm):
    kind, label = ChannelKind.WEBHOOK.value, ChannelKind.WEBHOOK.label
    config_keys = ("url",)
    credential_keys = ("secret",)

    url = forms.CharField(label="Address", required=True, max_length=2000, validators=[_refuse_control_characters],
                          widget=_UnechoedURLInput(attrs={"autocomplete": "off"}),
                          help_text="https:// only. Its path is often a secret: shown afterwards as its host alone, and typed again after an error.")
    secret = _secret("Signing secret", required=True,
                     help_text=f"At least {MIN_SECRET_LENGTH} characters; the receiver checks the {SIGNATURE_HEADER} header with it.")


CHANNEL_SETTINGS_FORMS: tuple[type[ChannelSettingsForm], ...] = (XChannelForm, MastodonChannelForm, BlueskyChannelForm, WebhookChannelForm)


def _channel_facts(channel: PublishingChannel) -> list[tuple[str, str]]:
    """What the page says of a channel's settings: never a credential, only whether there are
    some, and of a webhook only its host."""
    if channel.kind in BUILTIN_CHANNEL_KINDS:
        return []
    config = channel.config or {}
    facts = []
    if channel.kind == ChannelKind.X and config.get("handle"):
        facts.append(("Account", f"@{config['handle']}"))
    elif channel.kind == ChannelKind.MASTODON:
        facts += [("Server", str(config.get("instance_url", ""))), ("Visibility", str(config.get("visibility", ""))),
                  ("Characters per post", str(config.get("max_characters", "")))]
    elif channel.kind == ChannelKind.BLUESKY:
        facts.append(("Service", str(config.get("service_url", ""))))
    elif channel.kind == ChannelKind.WEBHOOK:
        facts.append(("Sends to", shown_address(str(config.get("url", "")))))
    facts.append(("Credentials", "set" if channel.credentials_encrypted else "not set"))
    return facts


# --- publishing settings ---------------------------------------------------------------------
def _publishing_page(request: HttpRequest, *, channel_form: ChannelForm | None = None,
                     settings_forms: list[ChannelSettingsForm] | None = None, status: int = 200) -> HttpResponse:
    members = [m for m in tenancy_selectors.organization_members(organization=request.organization) if m.has_role(Role.RESPONDER)]
    # The hub and e-mail channels exist from the first publication on; creating them here lets
    # an admin give them an access list before that.
    services.builtin_channels(request.organization.pk)
    current = reply_services.publishing_policy(request.organization.pk)
    channels = list(selectors.channels_of(organization=request.organization))
    for channel in channels:
        channel.is_account = channel.kind not in BUILTIN_CHANNEL_KINDS
        channel.facts = _channel_facts(channel)
    return render(request, "responses/publishing.html", {
        "channels": channels,
        "lockdown": policy.active_lockdown(request.organization.pk),
        "members": members,
        "policy": current,
        "policy_form": PublishingPolicyForm(initial={
            "pause_scheduled_at_severity": current.pause_scheduled_at_severity, "replies_per_author": current.replies_per_author,
        }),
        "channel_form": channel_form or ChannelForm(),
        "settings_forms": settings_forms or [form_class() for form_class in CHANNEL_SETTINGS_FORMS],
    }, status=status)


@organization_view(Role.ADMIN)
@require_GET
def publishing(request: HttpRequest) -> HttpResponse:
    return _publishing_page(request)


def _channel_or_404(request: HttpRequest, channel_id: int) -> PublishingChannel:
    channel = selectors.channel_of(organization=request.organization, channel_id=channel_id)
    if channel is None:
        raise Http404("No such channel.")
    return channel


def _publishing_done(request: HttpRequest, message: str = "") -> HttpResponse:
    if message:
        messages.success(request, message)
    return redirect("publishing", slug=request.organization.slug)


@organization_view(Role.ADMIN)
@require_POST
def channel_create(request: HttpRequest) -> HttpResponse:
    """Add an X, Mastodon, Bluesky or webhook channel. A refusal shows the page again with
    what was typed, except the credentials (and a webhook's address)."""
    form = ChannelForm(request.POST)
    form_valid = form.is_valid()
    kind = form.cleaned_data.get("kind")
    settings_forms = [form_class(request.POST) if form_class.kind == kind else form_class() for form_class in CHANNEL_SETTINGS_FORMS]
    chosen = next((settings_form for settings_form in settings_forms if settings_form.is_bound), None)
    chosen_valid = chosen is not None and chosen.is_valid()
    problem = ""
    if not (form_valid and chosen_valid):
        problem = " ".join(_form_problems(bound) for bound in (form, chosen) if bound is not None and bound.errors)
    else:
        config, credentials = chosen.settings()
        try:
            channel = services.channel_create(organization=request.organization, actor_membership=request.membership, kind=kind,
                                              name=form.cleaned_data["name"], config=config, credentials=credentials)
        except ServiceError as error:
            _refuse(error)
            messages.error(request, f"Channel not added. {error.message}")
            return _publishing_page(request, channel_form=form, settings_forms=settings_forms, status=error.status_code)
        return _publishing_done(request, f"Channel “{channel.name}” added and switched on. Without an access list, managers and up publish through it.")
    messages.error(request, f"Channel not added. {problem}")
    return _publishing_page(request, channel_form=form, settings_forms=settings_forms, status=400)


@organization_view(Role.ADMIN)
@require_POST
def channel_enabled(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel_or_404(request, channel_id)
    wanted = request.POST.get("enabled", "")
    if wanted not in ("0", "1"):
        messages.error(request, "Switch the channel on or off.")
        return _publishing_done(request)
    try:
        channel = services.channel_set_enabled(channel=channel, actor_membership=request.membership, enabled=wanted == "1")
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return _publishing_done(request)
    if channel.is_enabled:
        return _publishing_done(request, f"{channel.name} switched on: statements and posts may go out through it again.")
    return _publishing_done(request, f"{channel.name} switched off: nothing more goes out through it until it is switched on.")


@organization_view(Role.ADMIN)
@require_POST
def channel_access_grant(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel_or_404(request, channel_id)
    user_id = _decimal_id(request.POST.get("user", ""))
    if user_id is None:
        messages.error(request, "Choose a member.")
        return _publishing_done(request)
    try:
        grant = services.channel_access_grant(channel=channel, actor_membership=request.membership, user_id=user_id,
                                              in_lockdown=request.POST.get("in_lockdown") == "on")
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return _publishing_done(request)
    return _publishing_done(request, f"{grant.user} may publish through {channel.name}" + (" (also during a lockdown)." if grant.in_lockdown else "."))


@organization_view(Role.ADMIN)
@require_POST
def channel_access_revoke(request: HttpRequest, channel_id: int, user_id: int) -> HttpResponse:
    channel = _channel_or_404(request, channel_id)
    try:
        services.channel_access_revoke(channel=channel, actor_membership=request.membership, user_id=user_id)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return _publishing_done(request)
    return _publishing_done(request, f"Access to {channel.name} revoked. Anything of theirs not yet sent there will not go out.")


@organization_view(Role.ADMIN)
@require_POST
def publishing_lockdown(request: HttpRequest) -> HttpResponse:
    try:
        if request.POST.get("action") == "end":
            services.lockdown_end(organization=request.organization, actor_membership=request.membership)
            return _publishing_done(request, "Lockdown ended: the access lists apply again.")
        form = LockdownForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Not locked down. {_form_problems(form)}")
            return _publishing_done(request)
        services.lockdown_start(organization=request.organization, actor_membership=request.membership, reason=form.cleaned_data["reason"])
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return _publishing_done(request)
    return _publishing_done(request, "Publishing is locked down: only grants marked for the lockdown publish.")


class PublishingPolicyForm(forms.Form):
    pause_scheduled_at_severity = forms.TypedChoiceField(
        coerce=int, label="Pause scheduled posts during incidents of severity",
        choices=[(1, "1 only (the most severe)"), (2, "2 or worse"), (3, "3 or worse"), (4, "any incident")],
    )
    replies_per_author = forms.IntegerField(
        min_value=1, max_value=20, label="Public replies per author and incident",
        help_text="Past it, one more reply may only invite them to a private channel (DM, e-mail, phone).",
    )


@organization_view(Role.ADMIN)
@require_POST
def publishing_policy(request: HttpRequest) -> HttpResponse:
    form = PublishingPolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not saved. {_form_problems(form)}")
        return _publishing_done(request)
    try:
        saved = reply_services.policy_update(organization=request.organization, actor_membership=request.membership, **form.cleaned_data)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, f"Not saved. {error.message}")
        return _publishing_done(request)
    return _publishing_done(request, f"Policy saved: scheduled posts pause at severity {saved.pause_scheduled_at_severity} or worse; "
                                     f"{saved.replies_per_author} public replies per author and incident.")


# --- replies from the inbox ------------------------------------------------------------------
def mention_reply_context(request: HttpRequest, mention: Mention) -> dict:
    """The mention page's Reply section: the replies recorded on the mention for every member;
    for responders, the incident's usable reply templates with their previews, the count of
    public replies to the author against the limit, and why replying is not open when it
    is not (reply_state gives reply_send's own answer; the page adds what only it asks)."""
    membership = request.membership
    replies = list(selectors.replies_on(mention))
    for reply in replies:
        reply.safe_url = safe_link(reply.url)
    incident = mention.incident
    context = {"replies": replies, "reply_incident": incident, "can_reply": False, "reply_blocked": "", "reply_templates": []}
    if not membership.has_role(Role.RESPONDER):
        return context
    state = reply_services.reply_state(mention, membership)
    blocked = state.blocked
    # The API may answer a mention on no incident with any incident's template; the page
    # offers only the templates of the mention's own incident.
    if not blocked and incident is None:
        blocked = "Link this mention to an incident to reply with the incident's approved reply templates."
    templates = selectors.usable_reply_templates(incident) if not blocked else []
    if not blocked and not templates:
        blocked = "The incident has no approved reply template yet: write one (kind “Reply template”) and have it approved."
    return context | {
        "can_reply": not blocked,
        "reply_blocked": blocked,
        "reply_templates": templates,
        "reply_channel": state.channel,
        "replies_sent": state.sent,
        "reply_limit": state.limit,
        "past_reply_limit": state.past_limit,
    }


@organization_view(Role.RESPONDER)
@require_POST
def mention_reply(request: HttpRequest, mention_id: int) -> HttpResponse:
    mention = monitoring_selectors.mention_of(organization_id=request.organization.pk, mention_id=mention_id)
    if mention is None:
        raise Http404("No such mention.")
    back = redirect("mention", slug=request.organization.slug, mention_id=mention.pk)
    template_id = _decimal_id(request.POST.get("template", ""))
    template = selectors.statement_of(organization=request.organization, statement_id=template_id) if template_id is not None else None
    if template is None:
        messages.error(request, "Not sent. Choose one of the reply templates of the mention's incident.")
        return back
    try:
        reply = reply_services.reply_send(mention=mention, actor_membership=request.membership, template=template,
                                          moves_to_private=request.POST.get("moves_to_private") == "1")
    except ServiceError as error:
        _refuse(error)
        messages.error(request, f"Not sent. {error.message}")
        return back
    where = "inviting them to a private channel" if reply.moves_to_private else "as a public reply"
    messages.success(request, f"Reply to @{mention.author_handle} queued {where} on {reply.channel.name}; its outcome appears below.")
    return back


# --- scheduled posts -------------------------------------------------------------------------
SCHEDULABLE_KINDS = (*reply_services.REPLYABLE_NETWORKS, ChannelKind.WEBHOOK)
WAITING_STATUSES = [ScheduledPostStatus.SCHEDULED, ScheduledPostStatus.PAUSED, ScheduledPostStatus.AWAITING_REVIEW,
                    ScheduledPostStatus.SENDING, ScheduledPostStatus.FAILED]
CANCELLABLE_STATUSES = [ScheduledPostStatus.SCHEDULED, ScheduledPostStatus.PAUSED, ScheduledPostStatus.AWAITING_REVIEW, ScheduledPostStatus.FAILED]
RESUMABLE_STATUSES = [ScheduledPostStatus.PAUSED, ScheduledPostStatus.AWAITING_REVIEW]
SCHEDULED_PAGE_SIZE = 200


class ScheduledPostForm(forms.Form):
    channel = forms.TypedChoiceField(coerce=int, label="Channel")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=schedule_services.MAX_SCHEDULED_TEXT, label="Post")
    scheduled_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Goes out at (UTC)")

    def __init__(self, *args, channels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [("", "Choose…")] + [(channel.pk, channel.name) for channel in channels]


def _schedulable_channels(request: HttpRequest) -> list[PublishingChannel]:
    """The organisation's network channels, each with ``refusal``: why this member may not
    post there now ('' when they may)."""
    channels = [channel for channel in selectors.channels_of(organization=request.organization) if channel.kind in SCHEDULABLE_KINDS]
    for channel in channels:
        channel.refusal = policy.publish_refusal(channel=channel, membership=request.membership)
    return channels


def _scheduled_redirect(request: HttpRequest) -> HttpResponse:
    return redirect("scheduled-posts", slug=request.organization.slug)


@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def scheduled_posts(request: HttpRequest) -> HttpResponse:
    """The queue per channel, the form to schedule a post, and the crisis pause."""
    membership = request.membership
    can_schedule = membership.has_role(Role.RESPONDER)
    if request.method == "POST" and not can_schedule:
        raise PermissionDenied("Scheduling posts needs the responder role or higher.")
    channels = _schedulable_channels(request)
    status = 200
    form = None
    if request.method == "POST":
        form = ScheduledPostForm(request.POST, channels=channels)
        if form.is_valid():
            data = form.cleaned_data
            try:
                post = schedule_services.scheduled_post_create(
                    organization=request.organization, actor_membership=membership, channel_id=data["channel"], text=data["text"],
                    scheduled_at=data["scheduled_at"],
                )
            except ServiceError as error:
                _refuse(error)
                form.add_error({"channel_id": "channel", "scheduled_at": "scheduled_at", "text": "text"}.get(error.field or ""), error.message)
            else:
                if post.status == ScheduledPostStatus.PAUSED:
                    messages.warning(request, f"Scheduled, and paused at once: {post.pause_reason}. A manager reviews it when the incident ends.")
                else:
                    messages.success(request, f"Scheduled on {post.channel.name} for {post.scheduled_at:%Y-%m-%d %H:%M} UTC.")
                return _scheduled_redirect(request)
        status = 400
    elif can_schedule:
        form = ScheduledPostForm(channels=channels)
    wanted = request.GET.get("status", "")
    posts = selectors.scheduled_posts_of(request.organization.pk)
    if wanted in ScheduledPostStatus.values:
        posts = posts.filter(status=wanted)
    elif wanted != "all":
        wanted = ""
        posts = posts.filter(status__in=WAITING_STATUSES)
    posts = list(posts[:SCHEDULED_PAGE_SIZE])
    queues = {}
    for post in posts:
        post.may_cancel = can_schedule and post.status in CANCELLABLE_STATUSES
        post.may_resume = membership.has_role(Role.MANAGER) and post.status in RESUMABLE_STATUSES
        post.safe_url = safe_link(post.url)
        queues.setdefault(post.channel_id, {"channel": post.channel, "posts": []})["posts"].append(post)
    labels = dict(ScheduledPostStatus.choices)
    return render(request, "responses/scheduled.html", {
        "queues": sorted(queues.values(), key=lambda queue: (queue["channel"].kind, queue["channel"].name)),
        "truncated": len(posts) == SCHEDULED_PAGE_SIZE,
        "pausing_incident": schedule_services.pausing_incident(request.organization.pk),
        "awaiting_review": ScheduledPost.objects.for_organization(request.organization).filter(status=ScheduledPostStatus.AWAITING_REVIEW).count(),
        "threshold": reply_services.publishing_policy(request.organization.pk).pause_scheduled_at_severity,
        "form": form,
        "channels": channels,
        "can_schedule": can_schedule,
        "status_filter": wanted,
        "status_choices": [(value, labels[value]) for value in ScheduledPostStatus.values],
    }, status=status)


def _scheduled_post_or_404(request: HttpRequest, post_id: int) -> ScheduledPost:
    post = selectors.scheduled_posts_of(request.organization.pk).filter(pk=post_id).first()
    if post is None:
        raise Http404("No such scheduled post.")
    return post


@organization_view(Role.RESPONDER)
@require_POST
def scheduled_post_cancel(request: HttpRequest, post_id: int) -> HttpResponse:
    post = _scheduled_post_or_404(request, post_id)
    try:
        schedule_services.scheduled_post_cancel(post=post, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"Cancelled: “{post}” will not go out.")
    return _scheduled_redirect(request)


class ResumeForm(forms.Form):
    scheduled_at = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="New time (UTC, optional)")


@organization_view(Role.MANAGER)
@require_POST
def scheduled_post_resume(request: HttpRequest, post_id: int) -> HttpResponse:
    """A manager's review after the crisis: back in the queue, at a new time if given."""
    post = _scheduled_post_or_404(request, post_id)
    form = ResumeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not resumed: give the new time as a date and time, or leave it empty.")
        return _scheduled_redirect(request)
    try:
        post = schedule_services.scheduled_post_resume(post=post, actor_membership=request.membership, scheduled_at=form.cleaned_data["scheduled_at"])
    except ServiceError as error:
        _refuse(error)
        messages.error(request, f"Not resumed. {error.message}")
    else:
        messages.success(request, f"Reviewed and back in the queue: “{post}” goes out {post.scheduled_at:%Y-%m-%d %H:%M} UTC (or at the next check if that has passed).")
    return _scheduled_redirect(request)
