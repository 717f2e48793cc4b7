"""Pages of the shell: home, organisations, members and invitations, audit, account, health."""

from __future__ import annotations

from datetime import timezone as dt_timezone

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from crisiscenter import selectors, services
from crisiscenter.access import LAST_ORGANIZATION_SESSION_KEY, organization_view
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.forms import (
    AcceptWithNewAccountForm,
    AuditFilterForm,
    InvitationForm,
    OnCallRolesForm,
    OrganizationCreateForm,
    OrganizationRenameForm,
    RoleForm,
)
from crisiscenter.health import health_report
from crisiscenter.models import Role


def _refuse(error: ServiceError) -> None:
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = selectors.memberships_of(user=request.user)
    last = request.session.get(LAST_ORGANIZATION_SESSION_KEY)
    chosen = next((m for m in memberships if m.organization.slug == last), None) or memberships.first()
    if chosen is None:
        return redirect("organization-create")
    return redirect("war-room", slug=chosen.organization.slug)


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(owner=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f"{organization.name} is ready. Invite your team next.")
            return redirect("members", slug=organization.slug)
    return render(request, "crisiscenter/organization_create.html", {"form": form}, status=400 if form.errors else 200)


@organization_view(Role.VIEWER)
@require_GET
def war_room(request: HttpRequest) -> HttpResponse:
    """The live dashboard. The page is a shell: the script reads the snapshot API, then keeps
    it current from the organisation's socket; what is rendered here is for the first paint
    and for browsers without JavaScript."""
    from monitoring.models import MentionStatus
    from playbooks import incident_selectors

    organization = request.organization
    api_base = f"/api/v1/organizations/{organization.slug}"
    return render(
        request,
        "crisiscenter/war_room.html",
        {
            "organization": organization,
            "open_incidents": incident_selectors.incidents_of(organization=organization, open_only=True)[:20],
            "notifications": incident_selectors.notifications_for(organization=organization, user=request.user, unread_only=True)[:10],
            # Deciding on a spike (open, attach, snooze, dismiss) is for responders and up; the
            # API enforces it, the page only leaves the buttons out.
            "can_act": request.membership.has_role(Role.RESPONDER),
            "api_base": api_base,
            "snapshot_url": f"{api_base}/war-room/",
            "mention_statuses": [{"value": value, "label": label} for value, label in MentionStatus.choices],
        },
    )


@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    from playbooks import incident_selectors

    mine = incident_selectors.notifications_for(organization=request.organization, user=request.user)
    if request.method == "POST":
        # Marking your own notifications read is bookkeeping, not an audited change.
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        messages.success(request, "All caught up.")
        return redirect("notifications", slug=request.organization.slug)
    return render(request, "crisiscenter/notifications.html", {"page": Paginator(mine, 50).get_page(request.GET.get("page"))})


@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def organization_settings(request: HttpRequest) -> HttpResponse:
    form = OrganizationRenameForm(request.POST or None, initial={"name": request.organization.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_rename(
                organization=request.organization, actor_membership=request.membership, name=form.cleaned_data["name"]
            )
        except ServiceError as error:
            _refuse(error)
            form.add_error(error.field, error.message)
        else:
            messages.success(request, "Saved.")
            return redirect("organization-settings", slug=request.organization.slug)
    from playbooks.models import ChatKind, ChatWebhook

    webhooks = {hook.kind: hook for hook in ChatWebhook.objects.for_organization(request.organization)}
    chat = [{"kind": kind, "label": label, "webhook": webhooks.get(kind)} for kind, label in ChatKind.choices]
    on_call = OnCallRolesForm(initial={"on_call_roles": request.organization.on_call_roles})
    return render(request, "crisiscenter/organization_settings.html", {"form": form, "chat": chat, "on_call": on_call}, status=400 if form.errors else 200)


@organization_view(Role.ADMIN)
@require_POST
def on_call_roles_save(request: HttpRequest) -> HttpResponse:
    form = OnCallRolesForm(request.POST)
    if form.is_valid():
        try:
            services.organization_set_on_call_roles(organization=request.organization, actor_membership=request.membership, roles=form.cleaned_data["on_call_roles"])
        except ServiceError as error:
            _refuse(error)
            messages.error(request, error.message)
        else:
            messages.success(request, "On-call roles saved.")
    else:
        messages.error(request, "Choose at least one role to be on call.")
    return redirect("organization-settings", slug=request.organization.slug)


@organization_view(Role.ADMIN)
@require_POST
def chat_webhook_save(request: HttpRequest) -> HttpResponse:
    from playbooks.notifications import chat_webhook_set

    try:
        webhook = chat_webhook_set(
            organization=request.organization, actor_membership=request.membership, kind=request.POST.get("kind", ""), url=request.POST.get("url", "")
        )
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"{webhook} will receive escalations, status changes and overdue tasks." if webhook else "Webhook removed.")
    return redirect("organization-settings", slug=request.organization.slug)


@organization_view(Role.VIEWER)
@require_GET
def members(request: HttpRequest) -> HttpResponse:
    can_manage = request.membership.has_role(Role.ADMIN)
    context = {
        "memberships": selectors.organization_members(organization=request.organization),
        "can_manage": can_manage,
        "invite_form": InvitationForm(),
        "roles": Role.choices,
    }
    if can_manage:
        context["invitations"] = [i for i in selectors.organization_invitations(organization=request.organization)[:50]]
    return render(request, "crisiscenter/members.html", context)


@organization_view(Role.ADMIN)
@require_POST
def member_invite(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("members", slug=request.organization.slug)
    try:
        invitation, _token = services.invitation_create(
            organization=request.organization, actor_membership=request.membership, **form.cleaned_data
        )
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("members", slug=request.organization.slug)


def _member_or_404(request: HttpRequest, membership_id: int):
    membership = selectors.organization_member(organization=request.organization, membership_id=membership_id)
    if membership is None:
        raise Http404("No such member.")
    return membership


@organization_view(Role.ADMIN)
@require_POST
def member_change_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _member_or_404(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("members", slug=request.organization.slug)
    try:
        services.membership_change_role(
            membership=membership, actor_membership=request.membership, role=form.cleaned_data["role"]
        )
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"{membership.user} is now {membership.get_role_display().lower()}.")
    return redirect("members", slug=request.organization.slug)


@organization_view(Role.VIEWER)
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _member_or_404(request, membership_id)
    leaving = membership.pk == request.membership.pk
    try:
        services.membership_remove(membership=membership, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return redirect("members", slug=request.organization.slug)
    if leaving:
        messages.success(request, f"You left {request.organization.name}.")
        request.session.pop(LAST_ORGANIZATION_SESSION_KEY, None)
        return redirect("home")
    messages.success(request, f"{membership.user} was removed.")
    return redirect("members", slug=request.organization.slug)


@organization_view(Role.ADMIN)
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = selectors.organization_invitation(organization=request.organization, invitation_id=invitation_id)
    if invitation is None:
        raise Http404("No such invitation.")
    try:
        services.invitation_revoke(invitation=invitation, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("members", slug=request.organization.slug)


@organization_view(Role.ADMIN)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    actors = [(m.user_id, str(m.user)) for m in selectors.organization_members(organization=request.organization)]
    form = AuditFilterForm(request.GET or None, actors=actors)
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "action": data["action"] or "",
            "actor_id": data["actor"],
            "object_type": data["object_type"] or "",
            "since": data["since"],
            "until": data["until"],
        }
    entries = selectors.audit_entries(organization=request.organization, **filters)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "crisiscenter/audit_log.html",
        {"form": form, "page": page, "query": query.urlencode(), "actions": selectors.audit_actions(organization=request.organization)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    new_token = None
    if request.method == "POST":
        new_token = services.api_token_regenerate(user=request.user).key
        messages.success(request, "A new API token was created; the old one no longer works.")
    has_token = Token.objects.filter(user=request.user).exists()
    return render(request, "crisiscenter/account.html", {"new_token": new_token, "has_token": has_token})


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        raise Http404("This invitation link is not valid.")
    form = AcceptWithNewAccountForm(request.POST or None) if not request.user.is_authenticated else None
    error_message = None
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                membership = services.invitation_accept(invitation=invitation, user=request.user)
            elif form.is_valid():
                user = services.user_create_from_invitation(invitation=invitation, **form.cleaned_data)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                membership = selectors.membership_for(user=user, organization_slug=invitation.organization.slug)
            else:
                membership = None
        except ServiceError as error:
            if form is not None and error.field in form.fields:
                form.add_error(error.field, error.message)
            else:
                error_message = error.message
        else:
            if membership is not None:
                messages.success(request, f"Welcome to {invitation.organization.name}.")
                return redirect("war-room", slug=membership.organization.slug)
    status = 400 if (error_message or (form is not None and form.errors)) else 200
    return render(
        request,
        "crisiscenter/invitation_accept.html",
        {"invitation": invitation, "form": form, "error_message": error_message, "now": timezone.now().astimezone(dt_timezone.utc)},
        status=status,
    )
