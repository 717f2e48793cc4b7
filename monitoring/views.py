"""Monitoring pages: the shared inbox and its live rows fragment, one mention, sources,
watches, file imports and drills, rumours, and authors.

Triage (claim, status, tags, notes, incident, bulk) happens in the browser through the JSON
API (``static/js/inbox.js``); the admin pages here call the same services the API calls.
Mention text is untrusted: templates only print it auto-escaped, and a link to the original
is kept only when it is http(s).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crisiscenter import selectors as tenancy_selectors
from crisiscenter.access import organization_view
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Role
from monitoring import imports, inbox_services, queries, selectors, services
from monitoring.api import webhook_path
from monitoring.models import JobKind, JobStatus, MentionStatus, RumourStatus, Sentiment, SentimentMethod, Source, SourceKind, SpikeSensitivity
from playbooks import incident_selectors

# The states a person moves a mention to by hand, in the order of the 1–4 shortcuts.
TRIAGE_STATUSES = [MentionStatus.NEEDS_REPLY, MentionStatus.REPLIED, MentionStatus.NO_ACTION, MentionStatus.ESCALATED]
SAFE_SCHEMES = ("http", "https")


def _refuse(error: ServiceError) -> None:
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message)


def _require_role(request: HttpRequest, role: Role, what: str) -> None:
    """For pages every member reads but only some may change."""
    if not request.membership.has_role(role):
        raise PermissionDenied(f"Only {Role(role).label.lower()}s and above can {what}.")


def safe_link(url: str) -> str:
    """The URL if it is an absolute http(s) address, else "" (``javascript:`` and friends
    never reach an ``href``)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else ""


def _decorated(mentions) -> list:
    """Mentions with what a row shows and the templates cannot compute safely."""
    mentions = list(mentions)
    for mention in mentions:
        mention.original_url = safe_link(mention.url)
        mention.cursor = selectors.encode_cursor(mention)
        mention.emoji_only = mention.sentiment_method == SentimentMethod.SYMBOLS
    return mentions


def _parse_ids(text: str) -> list[int] | None:
    """Comma-separated mention ids; None when anything else is in there."""
    try:
        return [selectors.whole_number(part, "ids") for part in (text or "").split(",") if part.strip()][: selectors.MAX_PAGE_SIZE]
    except selectors.FilterError:
        return None


def _optional_id(value: str | None) -> int | None:
    try:
        return selectors.whole_number(value or "", "id")
    except selectors.FilterError:
        return None


def _mention_or_404(request: HttpRequest, mention_id: int):
    mention = selectors.mention_of(organization_id=request.organization.pk, mention_id=mention_id)
    if mention is None:
        raise Http404("No such mention.")
    return mention


# --- the inbox -----------------------------------------------------------------------------


def _triage_context(request: HttpRequest) -> dict:
    """What the rows need to draw their triage controls."""
    incidents = list(incident_selectors.incidents_of(organization=request.organization)[:100])
    return {
        "can_triage": request.membership.has_role(Role.RESPONDER),
        "triage_statuses": [(status.value, status.label) for status in TRIAGE_STATUSES],
        "status_labels": dict(MentionStatus.choices),
        "incidents": incidents,
        "open_incidents": [incident for incident in incidents if incident.is_open()],
        "incident_titles": {incident.pk: incident.title for incident in incidents},
        "api_base": f"/api/v1/organizations/{request.organization.slug}",
    }


def _filter_choices(request: HttpRequest) -> dict:
    organization_id = request.organization.pk
    return {
        "watches": selectors.watches_of(organization_id=organization_id),
        "sources": selectors.sources_of(organization_id=organization_id),
        "tags": selectors.tags_of(organization_id=organization_id)[:300],
        "members": tenancy_selectors.organization_members(organization=request.organization),
        "statuses": MentionStatus.choices,
        "sentiments": Sentiment.choices,
    }


@organization_view(Role.VIEWER)
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    filter_error = None
    mentions, next_cursor = [], None
    cursor = request.GET.get("cursor", "")
    try:
        filters = selectors.InboxFilters.from_query(request.GET)
        mentions, next_cursor = selectors.inbox_page(
            organization_id=request.organization.pk, filters=filters, user_id=request.user.pk, cursor=cursor
        )
    except selectors.FilterError as error:
        filters, filter_error = selectors.InboxFilters(), error
    filter_query = urlencode(filters.as_query())
    context = {
        **_filter_choices(request),
        **_triage_context(request),
        "mentions": _decorated(mentions),
        "values": request.GET,
        "filter_error": filter_error,
        "filter_query": filter_query,
        "filters_active": bool(filters.as_query()),
        "older_query": urlencode({**filters.as_query(), "cursor": next_cursor}) if next_cursor else "",
        "first_page": not cursor,
    }
    return render(request, "monitoring/inbox.html", context, status=400 if filter_error else 200)


@organization_view(Role.VIEWER)
@require_GET
def inbox_rows(request: HttpRequest) -> HttpResponse:
    """The ``<li>`` rows for the given ``ids`` (or one page) that pass the filters: what a
    live inbox prepends when ``mentions.ingested`` announces new ids. Rendered (and escaped)
    here, so the browser never builds rows out of mention text."""
    try:
        filters = selectors.InboxFilters.from_query(request.GET)
        ids = _parse_ids(request.GET.get("ids", ""))
        if ids is None:
            raise selectors.FilterError("ids", "must be comma-separated mention ids")
        if ids:
            mentions = selectors.mentions_by_ids(organization_id=request.organization.pk, filters=filters, ids=ids, user_id=request.user.pk)
        else:
            mentions, _next = selectors.inbox_page(
                organization_id=request.organization.pk, filters=filters, user_id=request.user.pk, cursor=request.GET.get("cursor", "")
            )
    except selectors.FilterError as error:
        return HttpResponse(f"{error.field} {error.message}", status=400, content_type="text/plain; charset=utf-8")
    return render(request, "monitoring/_mention_rows.html", {"mentions": _decorated(mentions), **_triage_context(request)})


@organization_view(Role.VIEWER)
@require_GET
def mention_detail(request: HttpRequest, mention_id: int) -> HttpResponse:
    from responses.views import mention_reply_context

    mention = _mention_or_404(request, mention_id)
    if request.GET.get("part") == "replies":
        return render(request, "responses/_mention_replies.html", {"mention": mention, **mention_reply_context(request, mention)})
    context = {
        **_triage_context(request),
        "mention": _decorated([mention])[0],
        "notes": selectors.mention_notes(mention=mention),
        "rumours": list(mention.rumours.all()),
        "all_rumours": selectors.rumours_of(organization_id=request.organization.pk)[:100],
    }
    if request.GET.get("part") == "notes":
        return render(request, "monitoring/_mention_notes.html", context)
    return render(request, "monitoring/mention.html", context | mention_reply_context(request, mention))


# --- sources -------------------------------------------------------------------------------

ADDABLE_KINDS = [SourceKind.X, SourceKind.MASTODON, SourceKind.BLUESKY, SourceKind.REDDIT, SourceKind.RSS, SourceKind.WEBHOOK]
LIST_KEYS = {"account_ids", "subreddits", "feed_urls"}
# Per kind: config key -> form field, credential key -> form field. Credentials are
# write-only: the forms never show what is stored.
KIND_FIELDS = {
    SourceKind.X: {
        "config": {"account_ids": "x_account_ids", "max_pages_per_poll": "x_max_pages_per_poll"},
        "credentials": {"bearer_token": "x_bearer_token"},
    },
    SourceKind.MASTODON: {"config": {"instance_url": "mastodon_instance_url"}, "credentials": {"access_token": "mastodon_access_token"}},
    SourceKind.BLUESKY: {"config": {}, "credentials": {"handle": "bluesky_handle", "app_password": "bluesky_app_password"}},
    SourceKind.REDDIT: {
        "config": {"subreddits": "reddit_subreddits"},
        "credentials": {"client_id": "reddit_client_id", "client_secret": "reddit_client_secret", "user_agent": "reddit_user_agent"},
    },
    SourceKind.RSS: {"config": {"feed_urls": "rss_feed_urls"}, "credentials": {}},
    SourceKind.WEBHOOK: {"config": {}, "credentials": {}},
}


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class SourceSettingsForm(forms.Form):
    """The per-kind settings; the page shows only the fieldset of the chosen kind."""

    x_account_ids = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Account ids to watch",
                                    help_text="Numeric X user ids, one per line: their posts and mentions are read as well as the watch queries.")
    x_max_pages_per_poll = forms.IntegerField(required=False, min_value=1, max_value=50, label="Pages per poll", help_text="Each page is up to 100 posts read (default 5).")
    x_quota_cap = forms.IntegerField(required=False, min_value=1, label="Monthly read cap (posts)", help_text="Your X plan's monthly post reads; polling counts against it.")
    x_bearer_token = forms.CharField(required=False, widget=_secret_input(), label="Bearer token")
    mastodon_instance_url = forms.CharField(required=False, max_length=300, label="Instance address", help_text="https://mastodon.social")
    mastodon_access_token = forms.CharField(required=False, widget=_secret_input(), label="Access token", help_text="Optional; some instances need it for search.")
    bluesky_handle = forms.CharField(required=False, max_length=200, label="Handle", help_text="name.bsky.social; optional with the app password.")
    bluesky_app_password = forms.CharField(required=False, widget=_secret_input(), label="App password")
    reddit_subreddits = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Subreddits", help_text="One per line; empty searches all of Reddit.")
    reddit_client_id = forms.CharField(required=False, max_length=200, label="Client id", widget=forms.TextInput(attrs={"autocomplete": "off"}))
    reddit_client_secret = forms.CharField(required=False, widget=_secret_input(), label="Client secret")
    reddit_user_agent = forms.CharField(required=False, max_length=200, label="User agent", help_text="e.g. crisiscenter:acme:1.0 (by u/acme)",
                                        widget=forms.TextInput(attrs={"autocomplete": "off"}))
    rss_feed_urls = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Feed addresses", help_text="One RSS or Atom feed URL per line.")

    def settings_for(self, kind: str) -> tuple[dict, dict]:
        """(config, credentials) from the cleaned data; empty values are left out so the
        adapter's defaults apply."""
        fields = KIND_FIELDS.get(kind, {"config": {}, "credentials": {}})

        def collect(mapping: dict[str, str]) -> dict:
            result = {}
            for key, field in mapping.items():
                value = self.cleaned_data.get(field)
                if value in (None, ""):
                    continue
                if key in LIST_KEYS:
                    value = [item for item in re.split(r"[\s,]+", value) if item]
                elif isinstance(value, str):
                    value = value.strip()
                result[key] = value
            return result

        return collect(fields["config"]), collect(fields["credentials"])

    def fieldsets(self) -> list[dict]:
        """The fields grouped by kind, for the template."""
        groups = []
        for kind in ADDABLE_KINDS:
            names = [*KIND_FIELDS[kind]["config"].values(), *KIND_FIELDS[kind]["credentials"].values()]
            if kind == SourceKind.X:
                names.insert(2, "x_quota_cap")
            groups.append({"kind": kind.value, "label": kind.label, "fields": [self[name] for name in names if name in self.fields]})
        return groups


class SourceCreateForm(SourceSettingsForm):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=[(kind.value, kind.label) for kind in ADDABLE_KINDS])
    poll_interval_seconds = forms.IntegerField(min_value=services.MIN_POLL_INTERVAL_SECONDS, max_value=86400, initial=120, label="Poll every (seconds)")

    field_order = ["name", "kind", "poll_interval_seconds"]


class SourceEditForm(SourceSettingsForm):
    name = forms.CharField(max_length=120)
    poll_interval_seconds = forms.IntegerField(required=False, min_value=services.MIN_POLL_INTERVAL_SECONDS, max_value=86400, label="Poll every (seconds)")

    field_order = ["name", "poll_interval_seconds"]

    @classmethod
    def initial_for(cls, source: Source) -> dict:
        initial = {"name": source.name, "poll_interval_seconds": source.poll_interval_seconds, "x_quota_cap": source.quota_cap}
        for key, field in KIND_FIELDS.get(source.kind, {"config": {}})["config"].items():
            value = source.config.get(key)
            initial[field] = "\n".join(value) if isinstance(value, list) else value
        return initial


def _sources_context(request: HttpRequest) -> dict:
    sources = list(selectors.sources_of(organization_id=request.organization.pk))
    for source in sources:
        source.quota_percent = round(source.quota_fraction() * 100) if source.quota_cap else None
    return {"sources": sources}


def _webhook_secret_context(request: HttpRequest, source: Source, secret: str) -> dict:
    url = request.build_absolute_uri(webhook_path(source, request.organization))
    return {"source": source, "secret": secret, "url": url}


def _service_error_on_form(form: forms.Form, error: ServiceError) -> None:
    _refuse(error)
    form.add_error(error.field if error.field in form.fields else None, error.message)


@never_cache  # the answer to a webhook's creation carries its secret
@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def sources(request: HttpRequest) -> HttpResponse:
    if request.GET.get("part") == "list":
        return render(request, "monitoring/_sources_list.html", _sources_context(request))
    form = SourceCreateForm(request.POST or None)
    created_secret = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        config, credentials = form.settings_for(data["kind"])
        try:
            source, secret = services.source_create(
                organization=request.organization, actor_membership=request.membership, name=data["name"], kind=data["kind"],
                config=config, credentials=credentials, poll_interval_seconds=data["poll_interval_seconds"],
                quota_cap=data["x_quota_cap"] if data["kind"] == SourceKind.X else None,
            )
        except ServiceError as error:
            _service_error_on_form(form, error)
        else:
            if secret is None:
                messages.success(request, f"Source “{source.name}” added.")
                return redirect("sources", slug=request.organization.slug)
            # Shown once, in this answer only: it is stored encrypted and never displayed again.
            created_secret = _webhook_secret_context(request, source, secret)
            form = SourceCreateForm()
    context = {**_sources_context(request), "form": form, "created_secret": created_secret}
    return render(request, "monitoring/sources.html", context, status=400 if form.errors else 200)


def _source_or_404(request: HttpRequest, source_id: int) -> Source:
    source = selectors.source_of(organization_id=request.organization.pk, source_id=source_id)
    if source is None:
        raise Http404("No such source.")
    return source


@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def source_edit(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source_or_404(request, source_id)
    form = SourceEditForm(request.POST or None, initial=SourceEditForm.initial_for(source))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = {"name": data["name"]}
        if source.is_polled():
            config, credentials = form.settings_for(source.kind)
            changes.update(config=config, credentials=credentials or None, poll_interval_seconds=data["poll_interval_seconds"])
            if source.kind == SourceKind.X:
                changes["quota_cap"] = data["x_quota_cap"]
        try:
            services.source_update(source=source, actor_membership=request.membership, **changes)
        except ServiceError as error:
            _service_error_on_form(form, error)
        else:
            messages.success(request, f"Source “{source.name}” saved.")
            return redirect("sources", slug=request.organization.slug)
    fieldset = next((group for group in form.fieldsets() if group["kind"] == source.kind), None)
    return render(request, "monitoring/source_edit.html", {"source": source, "form": form, "fieldset": fieldset}, status=400 if form.errors else 200)


@organization_view(Role.ADMIN)
@require_POST
def source_enabled(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source_or_404(request, source_id)
    enable = request.POST.get("enabled") == "1"
    try:
        services.source_update(source=source, actor_membership=request.membership, is_enabled=enable)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"“{source.name}” {'enabled' if enable else 'disabled'}.")
    return redirect("sources", slug=request.organization.slug)


@organization_view(Role.ADMIN)
@require_POST
def source_poll_now(request: HttpRequest, source_id: int) -> HttpResponse:
    """Same as the API's poll-now: due at once, for the next free worker (never twice at once)."""
    source = _source_or_404(request, source_id)
    if not source.is_enabled:
        messages.error(request, "Enable the source first.")
        return redirect("sources", slug=request.organization.slug)
    try:
        services.source_poll_now(source=source, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return redirect("sources", slug=request.organization.slug)
    messages.success(request, f"“{source.name}” will be polled as soon as a worker is free.")
    return redirect("sources", slug=request.organization.slug)


@never_cache
@organization_view(Role.ADMIN)
@require_POST
def source_rotate_secret(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source_or_404(request, source_id)
    try:
        secret = services.source_rotate_webhook_secret(source=source, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
        return redirect("sources", slug=request.organization.slug)
    context = {**_sources_context(request), "form": SourceCreateForm(), "created_secret": _webhook_secret_context(request, source, secret), "rotated": True}
    return render(request, "monitoring/sources.html", context)


# --- watches -------------------------------------------------------------------------------


class WatchForm(forms.Form):
    name = forms.CharField(max_length=120)
    query = forms.CharField(max_length=512, widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
                            help_text='Words, "exact phrases", #hashtags, @accounts, OR, -exclusions, (groups), prefix*.')
    language = forms.CharField(max_length=8, required=False, help_text="ISO code such as en or nl; empty for every language.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    spike_sensitivity = forms.ChoiceField(
        choices=SpikeSensitivity.choices, initial=SpikeSensitivity.NORMAL, required=False, label="Spike sensitivity",
        help_text="How few extra mentions make a spike on this watch.",
    )


def _translated(watch) -> tuple[str | None, str]:
    """(X query, problem) for a saved watch."""
    try:
        return queries.parse(watch.query).to_x(language=watch.language), ""
    except queries.QueryError as error:
        return None, error.message


def _save_watch(request: HttpRequest, form: WatchForm, watch=None):
    """Save through the service; on a parse error, put it on the query field and return
    where in the query it is (so the page can point at the character)."""
    data = form.cleaned_data
    query = data["query"]
    try:
        return services.watch_save(
            organization=request.organization, actor_membership=request.membership, name=data["name"], query=query,
            language=data["language"], is_active=data["is_active"], spike_sensitivity=data["spike_sensitivity"] or SpikeSensitivity.NORMAL, watch=watch,
        ), None
    except ServiceError as error:
        _service_error_on_form(form, error)
        return None, _query_pointer(query, error.details.get("position"))


def _query_pointer(query: str, position) -> dict | None:
    if not isinstance(position, int) or not 0 <= position <= len(query):
        return None
    return {"before": query[:position], "at": query[position : position + 1] or " ", "after": query[position + 1 :]}


@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def watches(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _require_role(request, Role.ADMIN, "change watch queries")
    if request.GET.get("part") == "list":
        return render(request, "monitoring/_watches_list.html", _watches_context(request))
    can_edit = request.membership.has_role(Role.ADMIN)
    form = WatchForm(request.POST or None) if can_edit else None
    pointer = None
    if request.method == "POST" and form.is_valid():
        watch, pointer = _save_watch(request, form)
        if watch is not None:
            messages.success(request, f"Watch “{watch.name}” saved.")
            return redirect("watches", slug=request.organization.slug)
    context = {**_watches_context(request), "form": form, "pointer": pointer, "can_edit": can_edit}
    return render(request, "monitoring/watches.html", context, status=400 if form is not None and form.errors else 200)


def _watches_context(request: HttpRequest) -> dict:
    rows = []
    for watch in selectors.watches_of(organization_id=request.organization.pk):
        watch.x_query, watch.problem = _translated(watch)
        rows.append(watch)
    return {"watches": rows, "can_edit": request.membership.has_role(Role.ADMIN)}


@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def watch_edit(request: HttpRequest, watch_id: int) -> HttpResponse:
    watch = selectors.watch_of(organization_id=request.organization.pk, watch_id=watch_id)
    if watch is None:
        raise Http404("No such watch.")
    initial = {"name": watch.name, "query": watch.query, "language": watch.language, "is_active": watch.is_active, "spike_sensitivity": watch.spike_sensitivity}
    form = WatchForm(request.POST or None, initial=initial)
    pointer = None
    if request.method == "POST" and form.is_valid():
        saved, pointer = _save_watch(request, form, watch)
        if saved is not None:
            messages.success(request, f"Watch “{saved.name}” saved.")
            return redirect("watches", slug=request.organization.slug)
    x_query, problem = _translated(watch)
    context = {"watch": watch, "form": form, "pointer": pointer, "x_query": x_query, "problem": problem}
    return render(request, "monitoring/watch_edit.html", context, status=400 if form.errors else 200)


# --- imports and drills --------------------------------------------------------------------

# Header names (lower case, without spaces or underscores) a mapping guesses for each field.
COLUMN_GUESSES = {
    "external_id": ["externalid", "id", "tweetid", "postid", "statusid", "messageid"],
    "text": ["text", "tweet", "message", "content", "body", "post", "fulltext"],
    "posted_at": ["postedat", "createdat", "date", "time", "timestamp", "datetime", "published", "created"],
    "url": ["url", "link", "permalink"],
    "author_handle": ["authorhandle", "handle", "username", "screenname", "user", "author"],
    "author_name": ["authorname", "name", "displayname", "fullname"],
    "author_followers": ["authorfollowers", "followers", "followerscount"],
    "author_verified": ["authorverified", "verified"],
    "language": ["language", "lang"],
    "likes": ["likes", "likecount", "favorites", "favoritecount"],
    "reposts": ["reposts", "retweets", "retweetcount", "shares"],
    "replies": ["replies", "replycount"],
    "reply_to_id": ["replytoid", "inreplyto", "inreplytostatusid"],
    "conversation_id": ["conversationid", "thread"],
}


def _squashed(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name.strip().lower())


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """Field -> column, by the usual names of each field (the browser does the same)."""
    by_name = {_squashed(column): column for column in columns}
    mapping = {}
    for field, names in COLUMN_GUESSES.items():
        column = next((by_name[name] for name in names if name in by_name), None)
        if column is not None and column not in mapping.values():
            mapping[field] = column
    return mapping


MAPPING_LABELS = {"external_id": "Id at the source", "url": "Link (URL)", "reply_to_id": "Reply to (id)", "conversation_id": "Conversation id"}


class FileImportForm(forms.Form):
    columns: tuple[str, ...] | list[str] = ()  # the CSV header, once a failed upload showed it

    file = forms.FileField(label="File")
    file_format = forms.ChoiceField(choices=[("", "Guess from the file"), *imports.FileFormat.CHOICES], required=False, label="Format")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in imports.MAPPABLE_FIELDS:
            self.fields[f"map_{field}"] = forms.CharField(
                required=False, max_length=200, label=MAPPING_LABELS.get(field, field.replace("_", " ").capitalize()) + (" *" if field in imports.REQUIRED_FIELDS else ""),
                widget=forms.TextInput(attrs={"autocomplete": "off", "data-field": field, "list": "csv-columns"}),
            )

    def mapping_fields(self) -> list:
        return [self[f"map_{field}"] for field in imports.MAPPABLE_FIELDS]

    def mapping(self) -> dict[str, str]:
        return {field: self.cleaned_data[f"map_{field}"].strip() for field in imports.MAPPABLE_FIELDS if self.cleaned_data.get(f"map_{field}", "").strip()}


class DrillForm(forms.Form):
    file = forms.FileField(label="Replay file", help_text="A CrisisLexT6 CSV or a Crisis Center export (JSON lines).")
    speed = forms.FloatField(min_value=0.01, max_value=services.MAX_DRILL_SPEED, initial=60, label="Speed (× real time)",
                             help_text="60 replays an hour of the original stream in a minute.")


def _imports_context(request: HttpRequest) -> dict:
    return {"jobs": selectors.jobs_of(organization_id=request.organization.pk)[:50]}


def _upload_or_error(form: forms.Form) -> bytes | None:
    upload = form.cleaned_data["file"]
    if upload.size > imports.MAX_FILE_BYTES:
        form.add_error("file", f"The file is larger than {imports.MAX_FILE_BYTES // (1024 * 1024)} MB.")
        return None
    return upload.read()


def _start_job(request: HttpRequest, form: forms.Form, *, kind: str, **options) -> HttpResponse | None:
    content = _upload_or_error(form)
    if content is None:
        return None
    file_name = form.cleaned_data["file"].name or "upload"
    try:
        job = services.job_create(
            organization=request.organization, actor_membership=request.membership, kind=kind, file_name=file_name, content=content, **options
        )
    except ServiceError as error:
        _service_error_on_form(form, error)
        file_format = options.get("file_format") or imports.guess_format(file_name, content)
        if kind == JobKind.FILE and file_format == imports.FileFormat.CSV:
            _suggest_mapping(form, content)
        return None
    messages.success(request, f"{job.get_kind_display()} of “{job.file_name}” started: {job.total} rows.")
    return redirect("import", slug=request.organization.slug, job_id=job.pk)


def _suggest_mapping(form: FileImportForm, content: bytes) -> None:
    """After a failed CSV import, fill the empty mapping fields with guesses from its header;
    the browser cannot keep the chosen file, so the person picks it again."""
    try:
        columns = imports.csv_columns(content)
    except imports.FileError:
        return
    form.columns = columns
    data = form.data.copy()
    for field, column in guess_mapping(columns).items():
        if not data.get(f"map_{field}"):
            data[f"map_{field}"] = column
    form.data = data


@organization_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def imports_page(request: HttpRequest) -> HttpResponse:
    if request.GET.get("part") == "jobs":
        return render(request, "monitoring/_jobs.html", _imports_context(request))
    form = FileImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        answer = _start_job(request, form, kind=JobKind.FILE, file_format=form.cleaned_data["file_format"] or None, column_mapping=form.mapping())
        if answer is not None:
            return answer
    context = {**_imports_context(request), "form": form, "drill_form": DrillForm(), "column_guesses": COLUMN_GUESSES}
    return render(request, "monitoring/imports.html", context, status=400 if form.errors else 200)


@organization_view(Role.ADMIN)
@require_POST
def import_drill(request: HttpRequest) -> HttpResponse:
    form = DrillForm(request.POST, request.FILES)
    if form.is_valid():
        answer = _start_job(request, form, kind=JobKind.DRILL, speed=form.cleaned_data["speed"])
        if answer is not None:
            return answer
    context = {**_imports_context(request), "form": FileImportForm(), "drill_form": form, "column_guesses": COLUMN_GUESSES}
    return render(request, "monitoring/imports.html", context, status=400)


def _job_or_404(request: HttpRequest, job_id: int):
    job = selectors.job_of(organization_id=request.organization.pk, job_id=job_id)
    if job is None:
        raise Http404("No such import.")
    return job


@organization_view(Role.ADMIN)
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    context = {"job": job, "rejected": selectors.rejected_items(organization_id=request.organization.pk, job_id=job.pk)[:500]}
    if request.GET.get("part") == "job":
        return render(request, "monitoring/_job_detail.html", context)
    return render(request, "monitoring/job.html", context)


@organization_view(Role.ADMIN)
@require_POST
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    try:
        job = services.job_cancel(job=job, actor_membership=request.membership)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"{job.get_kind_display()} stopped." if job.status == JobStatus.CANCELLED else "It had already finished.")
    return redirect("import", slug=request.organization.slug, job_id=job.pk)


# --- rumours -------------------------------------------------------------------------------


class RumourForm(forms.Form):
    claim = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}), label="The claim going round")
    status = forms.ChoiceField(choices=RumourStatus.choices, initial=RumourStatus.UNVERIFIED)
    facts = forms.CharField(required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 3}), label="What we know (to answer it with)")
    incident = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Incident")

    def __init__(self, *args, incidents, **kwargs):
        super().__init__(*args, **kwargs)
        self.incidents = {incident.pk: incident for incident in incidents}
        self.fields["incident"].choices = [("", "None")] + [(incident.pk, incident.title) for incident in incidents]


class CorrectionForm(forms.Form):
    correction = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 3}), label="The public correction")


def _save_rumour(request: HttpRequest, form: RumourForm, rumour=None):
    data = form.cleaned_data
    try:
        return inbox_services.rumour_save(
            actor_membership=request.membership, claim=data["claim"], status=data["status"], facts=data["facts"],
            incident=form.incidents.get(data["incident"]), rumour=rumour,
        )
    except ServiceError as error:
        _service_error_on_form(form, error)
        return None


def _incidents_for_forms(request: HttpRequest) -> list:
    return list(incident_selectors.incidents_of(organization=request.organization)[:100])


@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def rumours(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _require_role(request, Role.RESPONDER, "track rumours")
    listing = {"rumours": selectors.rumours_of(organization_id=request.organization.pk)[:200]}
    if request.GET.get("part") == "list":
        return render(request, "monitoring/_rumours_list.html", listing)
    can_edit = request.membership.has_role(Role.RESPONDER)
    form = RumourForm(request.POST or None, incidents=_incidents_for_forms(request)) if can_edit else None
    if request.method == "POST" and form.is_valid():
        rumour = _save_rumour(request, form)
        if rumour is not None:
            messages.success(request, "Rumour recorded.")
            return redirect("rumour", slug=request.organization.slug, rumour_id=rumour.pk)
    return render(request, "monitoring/rumours.html", {**listing, "form": form, "can_edit": can_edit}, status=400 if form is not None and form.errors else 200)


def _rumour_or_404(request: HttpRequest, rumour_id: int):
    rumour = selectors.rumour_of(organization_id=request.organization.pk, rumour_id=rumour_id)
    if rumour is None:
        raise Http404("No such rumour.")
    return rumour


@organization_view(Role.VIEWER)
@require_http_methods(["GET", "POST"])
def rumour_detail(request: HttpRequest, rumour_id: int) -> HttpResponse:
    if request.method == "POST":
        _require_role(request, Role.RESPONDER, "change rumours")
    rumour = _rumour_or_404(request, rumour_id)
    can_edit = request.membership.has_role(Role.RESPONDER)
    initial = {"claim": rumour.claim, "status": rumour.status, "facts": rumour.facts, "incident": rumour.incident_id}
    form = RumourForm(request.POST or None, initial=initial, incidents=_incidents_for_forms(request)) if can_edit else None
    if request.method == "POST" and form.is_valid():
        if _save_rumour(request, form, rumour) is not None:
            messages.success(request, "Rumour saved.")
            return redirect("rumour", slug=request.organization.slug, rumour_id=rumour.pk)
    carriers = rumour.mentions.select_related("source", "assignee").prefetch_related("tags").order_by("-posted_at", "-id")[:200]
    context = {
        "rumour": rumour, "form": form, "can_edit": can_edit, "carriers": _decorated(carriers),
        "can_correct": request.membership.has_role(Role.MANAGER), "correction_form": CorrectionForm(initial={"correction": rumour.correction}),
    }
    return render(request, "monitoring/rumour.html", context, status=400 if form is not None and form.errors else 200)


def _attach(request: HttpRequest, rumour, mention_ids: list[int] | None) -> None:
    if not mention_ids:
        messages.error(request, "Choose at least one mention.")
        return
    detach = request.POST.get("detach") == "1"
    try:
        inbox_services.rumour_attach(rumour=rumour, actor_membership=request.membership, mention_ids=mention_ids, detach=detach)
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, "Taken off the rumour." if detach else "Attached to the rumour.")


@organization_view(Role.RESPONDER)
@require_POST
def rumour_mentions(request: HttpRequest, rumour_id: int) -> HttpResponse:
    """Attach mentions to a rumour (or, with ``detach=1``, take them off)."""
    rumour = _rumour_or_404(request, rumour_id)
    _attach(request, rumour, _parse_ids(",".join(request.POST.getlist("mention_ids"))))
    return redirect("rumour", slug=request.organization.slug, rumour_id=rumour.pk)


@organization_view(Role.RESPONDER)
@require_POST
def mention_rumour(request: HttpRequest, mention_id: int) -> HttpResponse:
    """The same from a mention's page: attach it to the chosen rumour (or detach it)."""
    mention = _mention_or_404(request, mention_id)
    rumour_id = _optional_id(request.POST.get("rumour"))
    rumour = selectors.rumour_of(organization_id=request.organization.pk, rumour_id=rumour_id) if rumour_id is not None else None
    if rumour is None:
        messages.error(request, "Choose a rumour.")
    else:
        _attach(request, rumour, [mention.pk])
    return redirect("mention", slug=request.organization.slug, mention_id=mention.pk)


@organization_view(Role.MANAGER)
@require_POST
def rumour_correct(request: HttpRequest, rumour_id: int) -> HttpResponse:
    rumour = _rumour_or_404(request, rumour_id)
    form = CorrectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the correction.")
        return redirect("rumour", slug=request.organization.slug, rumour_id=rumour.pk)
    try:
        inbox_services.rumour_correct(rumour=rumour, actor_membership=request.membership, correction=form.cleaned_data["correction"])
    except ServiceError as error:
        _refuse(error)
        messages.error(request, error.message)
    else:
        messages.success(request, "Correction recorded.")
    return redirect("rumour", slug=request.organization.slug, rumour_id=rumour.pk)


# --- authors -------------------------------------------------------------------------------


@organization_view(Role.VIEWER)
@require_GET
def authors(request: HttpRequest) -> HttpResponse:
    incidents = _incidents_for_forms(request)
    wanted = _optional_id(request.GET.get("incident"))
    incident = next((i for i in incidents if i.pk == wanted), None)
    incident_id = incident.pk if incident else None
    organization_id = request.organization.pk
    context = {
        "incidents": incidents,
        "incident": incident,
        "influencers": selectors.authors(organization_id=organization_id, incident_id=incident_id, order="reach"),
        "detractors": selectors.authors(organization_id=organization_id, incident_id=incident_id, order="negative"),
    }
    return render(request, "monitoring/authors.html", context)


@organization_view(Role.VIEWER)
@require_GET
def author_detail(request: HttpRequest, handle: str) -> HttpResponse:
    if "\x00" in handle:  # PostgreSQL refuses NUL in text; no author has one
        raise Http404("No mentions by this author.")
    history = selectors.author_history(organization_id=request.organization.pk, author_handle=handle)
    if not history["mentions"]:
        raise Http404("No mentions by this author.")
    history["recent"] = _decorated(history["recent"])
    return render(request, "monitoring/author.html", {"history": history, "can_triage": False})
