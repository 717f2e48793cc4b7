"""The hub's response cache: rendered bytes per process, revalidated against a shared state.

During a crisis every reader asks for the same few resources, so each process keeps the
rendered bytes of each (organisation, resource, language) in memory and serves them without
touching the database. Whether they are still current is decided by the organisation's hub
*state token* (``responses.hub.hub_state_token``: counts and newest times of its hub
publications and pages):

- a process re-reads the token at most every ``REVALIDATE_SECONDS`` (1 s) per organisation,
  from the Django cache (Redis in production), where it lives for ``SHARED_STATE_SECONDS``
  (1 s) before someone derives it again from PostgreSQL — about one small query per second per
  organisation in total, however many readers there are;
- ``responses.hub.hub_changed`` (called after a hub publication commits) writes the new token
  at once and drops this process's copy, so the publishing process serves the new content
  immediately and every other one within ``REVALIDATE_SECONDS``.

A new publication is therefore served by every process within about 2 s even if nobody calls
``hub_changed``, and within about 1 s when it is called; nginx's 1 s micro-cache and the
browser's ``max-age=2`` come on top (docs: "Public crisis hub").

Responses carry a strong ETag (a hash of the bytes) and Last-Modified (the hub page's
``updated_at``), and conditional requests get 304 from memory.

Random URLs cannot flush the real pages: every store is a bounded LRU (the least recently used
entry goes, never the whole store); only existing resources are stored — a 404 is one shared
body, never an entry per path; an incident URL is checked against the organisation's public
page slugs (held per state token) before anything is rendered; and a slug that is no
organisation with a hub is remembered for ``UNKNOWN_SECONDS`` without a state being derived
or shared for it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.utils.http import http_date, parse_http_date_safe
from urllib.parse import parse_qs

REVALIDATE_SECONDS = 1.0
SHARED_STATE_SECONDS = 1
MAX_ENTRIES = 4096  # rendered variants (and paths) per process
MAX_ORGANIZATIONS = 1024
UNKNOWN_SECONDS = 1.0
# Browsers 2 s, shared caches (nginx, a CDN) 1 s; with the app's own ~1 s revalidation a
# publication is visible everywhere within 5 s. No stale-while-revalidate for browsers:
# it would add its window to that bound.
CACHE_CONTROL = "public, max-age=2, s-maxage=1"
NO_STATE = "none"

_clock = time.monotonic


class _LRU:
    """A mapping bounded to ``size`` keys that forgets the least recently used one. Reads take
    no lock (the fast path's hot loop); writes do."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        value = self._items.get(key)
        if value is not None:
            try:
                self._items.move_to_end(key)
            except KeyError:  # another thread evicted it meanwhile
                pass
        return value

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _State:
    checked_at: float
    token: str

    @property
    def organization_id(self) -> int | None:
        return None if self.token == NO_STATE else int(self.token.split(":", 1)[0])


@dataclass
class Rendered:
    """What a resource's renderer returns on a cache miss."""

    body: bytes
    content_type: str
    status: int = 200
    last_modified: datetime | None = None
    language: str = ""  # the variant rendered
    languages: list[str] = field(default_factory=list)  # the variants that exist
    default_language: str = ""
    cache_control: str = CACHE_CONTROL


@dataclass
class _Entry:
    token: str
    rendered: Rendered
    etag: str
    last_modified: str | None
    last_modified_seconds: int | None
    headers: list[tuple[str, str]]  # besides Content-Type and Content-Length


@dataclass
class _Variants:
    token: str
    languages: list[str]
    default_language: str
    negotiate_language: bool


_states = _LRU(MAX_ORGANIZATIONS)  # organisation slug → _State, only organisations with a hub
_unknown = _LRU(MAX_ENTRIES)  # slug → clock time until which it is known to have no hub
_pages = _LRU(MAX_ORGANIZATIONS)  # organisation slug → (token, its public page slugs)
_entries = _LRU(MAX_ENTRIES)  # (slug, path, language) → _Entry
_variants = _LRU(MAX_ENTRIES)  # (slug, path) → _Variants
_NO_HUB = _State(checked_at=0.0, token=NO_STATE)


def reset() -> None:
    """Forget everything this process holds (tests)."""
    for store in (_states, _unknown, _pages, _entries, _variants, _host_verdicts):
        store.clear()


def _shared_key(slug: str) -> str:
    return f"hub:state:{slug}"


def _derive(slug: str) -> str:
    from crisiscenter.models import Organization
    from responses.hub import hub_state_token

    organization_id = Organization.objects.filter(slug=slug).values_list("pk", flat=True).first()
    return hub_state_token(organization_id) if organization_id else NO_STATE


def organization_state(slug: str) -> _State:
    """The organisation's current hub state token, at most REVALIDATE_SECONDS old (a slug with
    no hub behind it: ``NO_STATE``, remembered UNKNOWN_SECONDS and neither shared nor kept
    among the real states)."""
    now = _clock()
    state = _states.get(slug)
    if state is not None and now - state.checked_at < REVALIDATE_SECONDS:
        return state
    unknown_until = _unknown.get(slug)
    if unknown_until is not None and now < unknown_until:
        return _NO_HUB
    token = None
    try:
        token = cache.get(_shared_key(slug))
    except Exception:  # noqa: BLE001 - Redis down: the database still answers
        token = None
    if token is None:
        token = _derive(slug)
        if token != NO_STATE:
            try:
                cache.set(_shared_key(slug), token, SHARED_STATE_SECONDS)
            except Exception:  # noqa: BLE001
                pass
    if token == NO_STATE:
        _unknown.put(slug, now + UNKNOWN_SECONDS)
        _states.pop(slug)
        return _NO_HUB
    state = _State(checked_at=now, token=token)
    _states.put(slug, state)
    return state


def refresh_state(slug: str) -> None:
    """Derive the token again now, share it, and drop this process's copy (hub_changed)."""
    token = _derive(slug)
    if token == NO_STATE:
        cache.delete(_shared_key(slug))
    else:
        cache.set(_shared_key(slug), token, SHARED_STATE_SECONDS)
    _states.pop(slug)
    _unknown.pop(slug)


def _public_pages(slug: str, state: _State) -> frozenset[str]:
    from responses.hub import public_page_slugs

    held = _pages.get(slug)
    if held is None or held[0] != state.token:
        held = (state.token, public_page_slugs(state.organization_id))
        _pages.put(slug, held)
    return held[1]


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in header.split(","))


def _not_modified(entry: _Entry, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if entry.rendered.status != 200:
        return False
    if if_none_match is not None:
        return _etag_matches(if_none_match, entry.etag)
    if entry.last_modified_seconds is not None and if_modified_since:
        since = parse_http_date_safe(if_modified_since)
        return since is not None and entry.last_modified_seconds <= since
    return False


def _make_entry(token: str, rendered: Rendered, *, vary_language: bool, cors: bool) -> _Entry:
    etag = '"' + hashlib.blake2b(rendered.body, digest_size=12).hexdigest() + '"'
    last_modified = http_date(rendered.last_modified.timestamp()) if rendered.last_modified else None
    headers = [("ETag", etag), ("Cache-Control", rendered.cache_control)]
    if last_modified:
        headers.append(("Last-Modified", last_modified))
    if vary_language:
        headers.append(("Vary", "Accept-Language"))
    if rendered.language:
        headers.append(("Content-Language", rendered.language))
    if cors:
        headers.append(("Access-Control-Allow-Origin", "*"))
    return _Entry(token=token, rendered=rendered, etag=etag, last_modified=last_modified,
                  last_modified_seconds=int(rendered.last_modified.timestamp()) if rendered.last_modified else None, headers=headers)


def respond(request: HttpRequest, entry: _Entry) -> HttpResponse:
    """The entry's response, or 304 when the request's validators match it."""
    if _not_modified(entry, request.META.get("HTTP_IF_NONE_MATCH"), request.META.get("HTTP_IF_MODIFIED_SINCE")):
        response = HttpResponse(status=304)
        del response["Content-Type"]
    else:
        response = HttpResponse(entry.rendered.body, content_type=entry.rendered.content_type, status=entry.rendered.status)
    for name, value in entry.headers:
        response[name] = value
    return response


def _lookup(slug: str, path: str, token: str, requested: str, accept: str) -> _Entry | None:
    from responses.hub import choose_language

    variants = _variants.get((slug, path))
    if variants is None or variants.token != token:
        return None
    if variants.languages:
        language = choose_language(variants.languages, variants.default_language, requested, accept if variants.negotiate_language else "")
    else:
        language = ""
    entry = _entries.get((slug, path, language))
    return entry if entry is not None and entry.token == token else None


def _requested_language(value: str) -> str | None:
    """``?lang=``'s value when it is a language tag ("" when absent), else None."""
    from responses.hub import is_language

    return value if not value or is_language(value) else None


def bad_request() -> HttpResponse:
    """A parameter no hub page or form produces (never stored, never cached)."""
    response = HttpResponse(b"Bad request.\n", content_type="text/plain; charset=utf-8", status=400)
    response["Cache-Control"] = "no-store"
    return response


def serve(
    request: HttpRequest,
    slug: str,
    render: Callable[[int | None, str, str], Rendered],
    *,
    page_slug: str | None = None,
    negotiate_language: bool = True,
    cors: bool = False,
) -> HttpResponse:
    """The cached response for this URL (its path; the query counts only through ``lang``)
    of the organisation ``slug`` (and its incident page ``page_slug``, for incident URLs) in
    the reader's language, rendering it with ``render(organization_id, requested_language,
    accept_language)`` when this process has no copy for the current state.

    ``render(None, "", "")`` must return the resource's not-found answer without touching the
    database: it is what an unknown organisation or page gets, and it is never stored. A
    ``lang`` that is not a language tag is a 400."""
    from responses.hub import ORGANIZATION_SLUG, PAGE_SLUG

    requested = _requested_language(request.GET.get("lang", ""))
    if requested is None:
        return bad_request()
    accept = request.META.get("HTTP_ACCEPT_LANGUAGE", "") if negotiate_language else ""
    state = _NO_HUB
    if ORGANIZATION_SLUG.fullmatch(slug) and (page_slug is None or PAGE_SLUG.fullmatch(page_slug)):
        state = organization_state(slug)
    if state.organization_id is None or (page_slug is not None and page_slug not in _public_pages(slug, state)):
        return respond(request, _make_entry(NO_STATE, render(None, "", ""), vary_language=negotiate_language, cors=cors))
    path = request.path_info
    entry = _lookup(slug, path, state.token, requested, accept)
    if entry is None:
        rendered = render(state.organization_id, requested, accept)
        entry = _make_entry(state.token, rendered, vary_language=negotiate_language, cors=cors)
        if rendered.status != 200:  # gone since the state was read: answered, not kept
            return respond(request, entry)
        _variants.put((slug, path), _Variants(state.token, rendered.languages, rendered.default_language, negotiate_language))
        _entries.put((slug, path, rendered.language), entry)
    return respond(request, entry)


# --- the WSGI fast path -----------------------------------------------------------------------
# Headers Django's middleware adds to every response (nosniff, frame options, referrer and
# opener policies, HSTS when on): learnt from the first hub response that went through Django,
# so a response from memory carries exactly what one from the view would.
_MIDDLEWARE_HEADERS = {"x-content-type-options", "x-frame-options", "referrer-policy", "cross-origin-opener-policy",
                       "strict-transport-security", "content-security-policy"}
_learnt_headers: list[tuple[str, str]] | None = None
_STATUS = {200: "200 OK", 304: "304 Not Modified", 404: "404 Not Found"}


# Host header → (the ALLOWED_HOSTS and DEBUG it was checked under, the verdict): the check
# costs more than the rest of the fast path.
_host_verdicts = _LRU(256)


def _host_allowed(environ) -> bool:
    """Django's ALLOWED_HOSTS check (``HttpRequest.get_host``) on the raw environ (the port
    does not take part in it)."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        host = environ["HTTP_X_FORWARDED_HOST"]
    elif "HTTP_HOST" in environ:
        host = environ["HTTP_HOST"]
    else:
        host = environ.get("SERVER_NAME", "")
    allowed_hosts, debug = settings.ALLOWED_HOSTS, settings.DEBUG
    held = _host_verdicts.get(host)
    if held is not None and held[0] is allowed_hosts and held[1] == debug:
        return held[2]
    domain, _port = split_domain_port(host)
    verdict = bool(domain) and validate_host(domain, allowed_hosts or ([".localhost", "127.0.0.1", "[::1]"] if debug else []))
    _host_verdicts.put(host, (allowed_hosts, debug, verdict))
    return verdict


def _is_secure(environ) -> bool:
    """``HttpRequest.scheme == "https"``: the proxy's header when SECURE_PROXY_SSL_HEADER is
    set (TRUSTED_PROXY_COUNT > 0: X-Forwarded-Proto, its first value) and sent, else the
    server's own scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def _django_must_answer(environ) -> bool:
    """What Django checks before any view — the Host header, the HTTPS redirect, refused user
    agents — and the fast path must not skip: such requests go to Django, which answers them
    (400, 301, 403) as for any other URL."""
    if not _host_allowed(environ):
        return True
    if settings.SECURE_SSL_REDIRECT and not _is_secure(environ):
        return True
    return bool(settings.DISALLOWED_USER_AGENTS)


class HubFastPath:
    """WSGI middleware: a GET of a hub URL whose bytes this process holds for the current state
    (checked within REVALIDATE_SECONDS) is answered from memory without building a Django
    request — no database, no Redis, no middleware stack — once the request passed the checks
    Django's middleware would make first (``_django_must_answer``). Everything else, including
    every revalidation, goes to Django as usual."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/hub/") and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            if _learnt_headers is not None:
                served = self._from_memory(environ, path)
                if served is not None:
                    status, headers, body = served
                    start_response(status, headers)
                    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
            else:
                return self.application(environ, self._learning(start_response))
        return self.application(environ, start_response)

    @staticmethod
    def _learning(start_response):
        def capture(status, headers, exc_info=None):
            global _learnt_headers
            if status.startswith("200"):
                _learnt_headers = [(name, value) for name, value in headers if name.lower() in _MIDDLEWARE_HEADERS]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
        return capture

    @staticmethod
    def _from_memory(environ, path):
        parts = path.split("/", 3)
        if len(parts) < 4 or not parts[2]:
            return None
        slug = parts[2]
        state = _states.get(slug)
        if state is None or _clock() - state.checked_at >= REVALIDATE_SECONDS or _django_must_answer(environ):
            return None
        query = environ.get("QUERY_STRING", "")
        requested = ""
        if "lang=" in query:
            requested = _requested_language((parse_qs(query).get("lang") or [""])[-1])
            if requested is None:  # Django says 400
                return None
        entry = _lookup(slug, path, state.token, requested, environ.get("HTTP_ACCEPT_LANGUAGE", ""))
        if entry is None or entry.rendered.status not in _STATUS:
            return None
        if _not_modified(entry, environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE")):
            return _STATUS[304], [*entry.headers, *_learnt_headers], b""
        body = entry.rendered.body
        headers = [("Content-Type", entry.rendered.content_type), ("Content-Length", str(len(body))), *entry.headers, *_learnt_headers]
        return _STATUS[entry.rendered.status], headers, body
