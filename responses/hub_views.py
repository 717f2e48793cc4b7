"""The public crisis hub's pages, feeds, JSON and banner (no login, no cookies), and the
subscription pages.

Every GET goes through ``hub_cache.serve``: rendered once per process per hub state and
language, then served from memory with ETag/Last-Modified/304. The renderers below run only
on a miss and read what is public through ``responses.hub``.

Subscribing is a POST without a CSRF token, on purpose: a token would make every cached page
personal (and set a cookie). What CSRF protects here is small — someone else's browser could
only ask for a confirmation mail to an address the attacker chose, which the attacker can do
from their own — and it is covered by checking Origin/Referer, throttling per address and per
client, and double opt-in.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape, linebreaks
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from crisiscenter.middleware import client_ip
from crisiscenter.models import Organization
from responses import hub, hub_cache
from responses.hub_cache import Rendered
from responses.models import HubPage, StatementKind

SUBSCRIBE_PER_CLIENT_PER_HOUR = 20
SUBSCRIBE_PER_ADDRESS_PER_HOUR = 3
LANGUAGE_NAMES = {
    "en": "English", "nl": "Nederlands", "de": "Deutsch", "fr": "Français", "es": "Español", "it": "Italiano",
    "pt": "Português", "pt-BR": "Português (Brasil)", "pl": "Polski", "sv": "Svenska", "da": "Dansk", "fi": "Suomi",
    "no": "Norsk", "cs": "Čeština", "tr": "Türkçe", "ja": "日本語", "zh": "中文", "ar": "العربية", "uk": "Українська",
}
HTML = "text/html; charset=utf-8"
NO_STORE = "no-store"


# --- rendering helpers ------------------------------------------------------------------------
@functools.cache
def _not_found_body() -> bytes:
    return render_to_string("hub/404.html").encode()


def _not_found() -> Rendered:
    """The same bytes for an unknown organisation, one without a public page, an unknown
    incident and a subscription link that leads nowhere: nothing tells them apart. Rendered
    once per process: floods of random URLs cost no rendering."""
    return Rendered(body=_not_found_body(), content_type=HTML, status=404)


def _language_links(languages: list[str], current: str) -> list[dict]:
    return [{"code": code, "name": LANGUAGE_NAMES.get(code, code), "current": code == current} for code in languages]


def _organization(organization_id: int | None) -> Organization | None:
    return Organization.objects.filter(pk=organization_id).first() if organization_id else None


def _page_context(organization: Organization, language: str, languages: list[str], **extra) -> dict:
    return {
        "organization": organization, "language": language, "language_links": _language_links(languages, language),
        "organization_url": f"/hub/{organization.slug}/", **extra,
    }


def _merge_languages(hubs: list[hub.IncidentHub]) -> tuple[list[str], str]:
    languages = sorted({language for item in hubs for language in item.languages})
    defaults = [item.default_language for item in hubs]
    return languages, max(set(defaults), key=defaults.count) if defaults else settings.LANGUAGE_CODE


# --- pages ------------------------------------------------------------------------------------
def _render_organization(organization_id, requested, accept) -> Rendered:
    organization = _organization(organization_id)
    hubs = hub.organization_hubs(organization) if organization else []
    if not hubs:
        return _not_found()
    languages, default = _merge_languages(hubs)
    language = hub.choose_language(languages, default, requested, accept)
    hubs = hub.organization_hubs(organization, requested_language=language)
    body = render_to_string("hub/organization.html", _page_context(
        organization, language, languages,
        current=[item for item in hubs if item.is_current], past=[item for item in hubs if not item.is_current],
    ))
    return Rendered(body=body.encode(), content_type=HTML, last_modified=max(item.updated_at for item in hubs),
                    language=language, languages=languages, default_language=default)


def _render_incident(organization_id, incident_slug, requested, accept) -> Rendered:
    organization = _organization(organization_id)
    hubs = hub.organization_hubs(organization, requested_language=requested, accept_language=accept, incident_slug=incident_slug) if organization else []
    if not hubs:
        return _not_found()
    page = hubs[0]
    latest = page.latest
    body = render_to_string("hub/incident.html", _page_context(
        organization, page.language, page.languages, hub=page, latest=latest,
        spokesperson=page.spokesperson,
        feed_url=f"/hub/{organization.slug}/{page.page.slug}/feed.atom",
    ))
    return Rendered(body=body.encode(), content_type=HTML, last_modified=page.updated_at, language=page.language,
                    languages=page.languages, default_language=page.default_language)


@require_safe
def organization_page(request: HttpRequest, organization_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, _render_organization)


@require_safe
def incident_page(request: HttpRequest, organization_slug: str, incident_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_incident(organization_id, incident_slug, requested, accept),
                           page_slug=incident_slug)


# --- Atom -------------------------------------------------------------------------------------
def _entry_html(version) -> str:
    parts = [linebreaks(escape(version.body))]
    for label, text in (("What happened", version.what_happened), ("What we know", version.known),
                        ("What we don't know yet", version.unknown), ("What you should do", version.what_to_do)):
        if text.strip():
            parts.append(f"<h3>{escape(label)}</h3>{linebreaks(escape(text))}")
    return "".join(parts)


def _tag(organization_slug: str, version) -> str:
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"tag:{host},{version.created_at:%Y-%m-%d}:hub/{organization_slug}/versions/{version.pk}"


def _render_feed(organization_id, requested, incident_slug: str | None) -> Rendered:
    organization = _organization(organization_id)
    hubs = hub.organization_hubs(organization, incident_slug=incident_slug) if organization else []
    if not hubs:
        return _not_found()
    languages, default = _merge_languages(hubs)
    language = hub.choose_language(languages, "", requested)
    title = f"{organization.name}: {hubs[0].title}" if incident_slug else f"{organization.name}: status and updates"
    link = hub.absolute_hub_url(organization.slug, incident_slug or "")
    feed = Atom1Feed(title=title, link=link, description="", language=language or default,
                     feed_url=f"{link}feed.atom", feed_guid=f"{link}feed.atom")
    rows = [(item, row) for item in hubs for row in item.published]
    rows.sort(key=lambda pair: (pair[1].published_at, pair[1].version.pk), reverse=True)
    for item, row in rows:
        if language and row.statement.language != language:
            continue
        version, statement = row.version, row.statement
        entry_title = version.question if statement.kind == StatementKind.FAQ else hub.public_title(version)
        if statement.kind == StatementKind.CORRECTION:
            entry_title = f"Correction: {entry_title}"
        feed.add_item(
            title=entry_title, link=f"{hub.absolute_hub_url(organization.slug, item.page.slug)}#statement-{statement.translation_of_id or statement.pk}",
            description=_entry_html(version), unique_id=_tag(organization.slug, version), unique_id_is_permalink=False,
            pubdate=row.published_at, updateddate=row.published_at,
            author_name=str(version.spokesperson) if version.spokesperson_id else organization.name,
        )
    return Rendered(body=feed.writeString("utf-8").encode(), content_type="application/atom+xml; charset=utf-8",
                    last_modified=max(item.updated_at for item in hubs), language=language, languages=languages)


@require_safe
def organization_feed(request: HttpRequest, organization_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_feed(organization_id, requested, None),
                           negotiate_language=False, cors=True)


@require_safe
def incident_feed(request: HttpRequest, organization_slug: str, incident_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_feed(organization_id, requested, incident_slug),
                           page_slug=incident_slug, negotiate_language=False, cors=True)


# --- Statuspage-compatible JSON -----------------------------------------------------------------
def _json_not_found() -> Rendered:
    return Rendered(body=b'{"error": "not found"}', content_type="application/json", status=404)


def _render_statuspage(organization_id, requested, summary: bool) -> Rendered:
    organization = _organization(organization_id)
    hubs = hub.organization_hubs(organization) if organization else []
    if not hubs:
        return _json_not_found()
    languages, default = _merge_languages(hubs)
    language = hub.choose_language(languages, default, requested)
    hubs = hub.organization_hubs(organization, requested_language=language)
    document = hub.statuspage_document(organization, hubs, only_unresolved=summary)
    return Rendered(body=json.dumps(document, ensure_ascii=False).encode(), content_type="application/json",
                    last_modified=max(item.updated_at for item in hubs), language=language, languages=languages, default_language=default)


@require_safe
def statuspage_summary(request: HttpRequest, organization_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_statuspage(organization_id, requested, True),
                           negotiate_language=False, cors=True)


@require_safe
def statuspage_incidents(request: HttpRequest, organization_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_statuspage(organization_id, requested, False),
                           negotiate_language=False, cors=True)


# --- banner -----------------------------------------------------------------------------------
BANNER_SCRIPT = """(function () {
  var d = %s;
  if (!d || !document.createElement) return;
  var key = "crisis-hub-banner:" + d.url + ":" + d.updated_at;
  try { if (window.localStorage && localStorage.getItem(key)) return; } catch (e) {}
  function show() {
    var bar = document.createElement("div");
    bar.setAttribute("role", "region");
    bar.setAttribute("aria-label", "Important notice");
    bar.style.cssText = "position:relative;z-index:2147483647;margin:0;padding:.6em 3em .6em 1em;background:#7a1a00;color:#fff;font:16px/1.4 system-ui,sans-serif";
    var strong = document.createElement("strong");
    strong.textContent = "Important: ";
    bar.appendChild(strong);
    bar.appendChild(document.createTextNode(d.name + " \\u2014 "));
    var link = document.createElement("a");
    link.href = d.url;
    link.textContent = "details";
    link.style.cssText = "color:#fff;text-decoration:underline;font-weight:bold";
    bar.appendChild(link);
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss this notice");
    close.textContent = "\\u00d7";
    close.style.cssText = "position:absolute;right:.5em;top:.3em;background:none;border:0;color:#fff;font-size:1.5em;cursor:pointer";
    close.onclick = function () { bar.parentNode.removeChild(bar); try { localStorage.setItem(key, "1"); } catch (e) {} };
    bar.appendChild(close);
    document.body.insertBefore(bar, document.body.firstChild);
  }
  if (document.body) show(); else document.addEventListener("DOMContentLoaded", show);
})();
"""


def _banner_data(organization_id, requested) -> tuple[dict | None, datetime | None, list[str], str]:
    organization = _organization(organization_id)
    hubs = hub.organization_hubs(organization) if organization else []
    if not hubs:
        return None, None, [], ""
    languages, default = _merge_languages(hubs)
    language = hub.choose_language(languages, default, requested)
    current = [item for item in hub.organization_hubs(organization, requested_language=language) if item.is_current]
    updated = max(item.updated_at for item in hubs)
    if not current:
        return None, updated, languages, language
    item = current[0]
    return {"name": item.title, "status": item.status, "url": hub.absolute_hub_url(organization.slug, item.page.slug),
            "updated_at": hub.statuspage_time(item.updated_at), "language": item.latest.language}, updated, languages, language


def _render_banner_json(organization_id, requested) -> Rendered:
    data, updated, languages, language = _banner_data(organization_id, requested)
    # An unknown organisation gets the same "nothing to show" as a quiet one: embeds never break.
    return Rendered(body=json.dumps({"incident": data}).encode(), content_type="application/json",
                    last_modified=updated, language=language, languages=languages, default_language=language)


def _render_banner_js(organization_id, requested) -> Rendered:
    data, updated, languages, language = _banner_data(organization_id, requested)
    # ensure_ascii escapes U+2028/2029 too, so the data is a valid JavaScript literal.
    body = BANNER_SCRIPT % json.dumps(data).replace("<", "\\u003c") if data else "/* No current incident. */\n"
    return Rendered(body=body.encode(), content_type="text/javascript; charset=utf-8",
                    last_modified=updated, language=language, languages=languages, default_language=language)


@require_safe
def banner_json(request: HttpRequest, organization_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_banner_json(organization_id, requested),
                           negotiate_language=False, cors=True)


@require_safe
def banner_js(request: HttpRequest, organization_slug: str) -> HttpResponse:
    return hub_cache.serve(request, organization_slug, lambda organization_id, requested, accept: _render_banner_js(organization_id, requested),
                           negotiate_language=False, cors=True)


# --- subscriptions (never cached) ----------------------------------------------------------------
def _uncached(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, content_type=HTML, status=status)
    response["Cache-Control"] = NO_STORE
    return response


def _not_found_response() -> HttpResponse:
    return _uncached(_not_found_body(), status=404)


def _same_origin(request: HttpRequest) -> bool:
    """A browser's cross-site POST says where it came from; refuse any other site."""
    allowed = {urlsplit(settings.SITE_URL)._replace(path="", query="", fragment="").geturl().rstrip("/"),
               f"{request.scheme}://{request.get_host()}"}
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        return origin.rstrip("/") in allowed
    referer = request.META.get("HTTP_REFERER")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" in allowed
    return True  # not a browser: nothing to forge


def _over_limit(key: str, limit: int) -> bool:
    cache.add(key, 0, 3600)
    try:
        return cache.incr(key) > limit
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 3600)
        return False


def _public_organization(organization_slug: str) -> Organization | None:
    if not hub.ORGANIZATION_SLUG.fullmatch(organization_slug):
        return None
    return hub.organization_for_hub(organization_slug)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, organization_slug: str) -> HttpResponse:
    organization = _public_organization(organization_slug)
    if organization is None:
        return _not_found_response()
    # Checked before anything is echoed or looked up: the form's hidden fields only ever hold
    # a language tag and a page slug, so anything else is not from the form.
    language = request.POST.get("language", "").strip() or settings.LANGUAGE_CODE
    incident_slug = request.POST.get("incident", "").strip()
    if not hub.is_language(language):
        return hub_cache.bad_request()
    if incident_slug and not hub.PAGE_SLUG.fullmatch(incident_slug):
        return _not_found_response()
    context = {"organization": organization, "language": language, "organization_url": f"/hub/{organization.slug}/", "language_links": []}
    if request.method == "GET":
        return _uncached(render_to_string("hub/subscribe.html", context))
    if not _same_origin(request):
        return _uncached(render_to_string("hub/subscribe.html", {**context, "error": "Please subscribe from the hub page itself."}), status=403)
    if _over_limit(f"hub:subscribe:client:{client_ip(request)}", SUBSCRIBE_PER_CLIENT_PER_HOUR):
        return _uncached(render_to_string("hub/subscribe.html", {**context, "error": "Too many requests from your network; please try again later."}), status=429)
    page = HubPage.objects.for_organization(organization).filter(slug=incident_slug).select_related("incident").first() if incident_slug else None
    if incident_slug and page is None:
        return _not_found_response()
    email = request.POST.get("email", "")
    try:
        normalized = hub.normalize_email(email)
    except hub.SubscriptionRefused as refusal:
        return _uncached(render_to_string("hub/subscribe.html", {**context, "error": str(refusal), "incident": incident_slug}), status=400)
    # Over the per-address limit the reader sees the same answer; only no mail goes out.
    if not _over_limit(f"hub:subscribe:address:{organization.pk}:{normalized.lower()}", SUBSCRIBE_PER_ADDRESS_PER_HOUR):
        hub.subscription_request(organization=organization, email=normalized, incident=page.incident if page else None, language=language)
    return _uncached(render_to_string("hub/subscribe_done.html", {**context, "page": page}))


def _subscription_step(request: HttpRequest, organization_slug: str, token: str, *, still_open, step, page: str, done_page: str) -> HttpResponse:
    """A link from a subscription mail: GET shows the button (mail scanners follow links), POST
    takes the step (``step(subscription=…)``) and says it is done."""
    organization = _public_organization(organization_slug)
    subscription = hub.subscription_for_token(organization, token) if organization else None
    if subscription is None or not still_open(subscription):
        return _not_found_response()
    context = {"organization": organization, "language": subscription.language, "organization_url": f"/hub/{organization.slug}/",
               "language_links": [], "subscription": subscription}
    if request.method == "POST":
        return _uncached(render_to_string(done_page, {**context, "subscription": step(subscription=subscription)}))
    return _uncached(render_to_string(page, context))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def subscription_confirm(request: HttpRequest, organization_slug: str, token: str) -> HttpResponse:
    return _subscription_step(request, organization_slug, token, still_open=lambda subscription: subscription.unsubscribed_at is None,
                              step=hub.subscription_confirm, page="hub/subscription_confirm.html", done_page="hub/subscription_confirmed.html")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def subscription_unsubscribe(request: HttpRequest, organization_slug: str, token: str) -> HttpResponse:
    """RFC 8058: a POST (``List-Unsubscribe=One-Click``) unsubscribes with no further step; a
    GET, which mail scanners also send, only shows the button."""
    return _subscription_step(request, organization_slug, token, still_open=lambda subscription: True,
                              step=hub.subscription_cancel, page="hub/unsubscribe.html", done_page="hub/unsubscribed.html")
