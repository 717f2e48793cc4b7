"""The public crisis hub under a crisis-sized crowd: one incident page, 200 connections.

Page measured: ``/hub/<org>/<incident>/`` of an incident with 12 published updates (three of
them republished with new wording, one a correction), 10 FAQ answers, a Dutch translation of
every update and FAQ, and help links — built with the real services (draft → approve →
publish → the publication run), on PostgreSQL and Redis.

Three measurements with ``wrk`` (200 connections, keep-alive, ``Accept-Language: en-US``),
in the same run:

1. the app alone: the Procfile's production WSGI server (gunicorn) serving the page,
   ``--worker-class gthread`` so connections stay alive (the Procfile's default sync worker
   closes every connection);
2. the reference: nginx serving the very same bytes as a static file;
3. the shipped ``deploy/nginx.conf`` (its micro-cache) in front of that gunicorn.

Targets: the app alone ≥ 2,500 requests/s with p99 ≤ 100 ms; through nginx ≥ 50 % of nginx's
static-file rate. Then, through nginx: how long a new publication takes to be visible, with
and without ``hub_changed`` being called (budget 5 s).

Needs PostgreSQL (BENCH_POSTGRES_URL; a database ``bench_hub`` is created and dropped), Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/8) and ``wrk``; nginx for parts 2 and 3
(skipped, saying so, without it: ``apt-get install -y nginx-light wrk``).

    .venv/bin/python bench/bench_hub.py --workers 2 --threads 8 --duration 10
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
DATABASE = "bench_hub"
TARGET_RPS = 2500
TARGET_P99_MS = 100.0
TARGET_NGINX_RATIO = 0.5
VISIBILITY_BUDGET_S = 5.0
NGINX_CONF = support.ROOT / "deploy" / "nginx.conf"
HEADERS = ["-H", "Accept-Language: en-US,en;q=0.9", "-H", "User-Agent: Mozilla/5.0 (bench)"]


def main(argv: list[str] | None = None) -> bool:
    if os.environ.get("BENCH_HUB_CHILD") != "1":
        return support.run_isolated(__file__, argv)
    return run(argv)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # One process with one handler thread was the fastest and fairest on a 2-CPU machine that
    # also runs wrk and nginx (the page comes from memory, under the GIL); see docs.
    parser.add_argument("--workers", type=support.positive, default=int(os.environ.get("BENCH_HUB_WORKERS", 1)))
    parser.add_argument("--threads", type=support.positive, default=int(os.environ.get("BENCH_HUB_THREADS", 1)))
    parser.add_argument("--connections", type=support.positive, default=200)
    parser.add_argument("--duration", type=support.positive, default=10, help="seconds per wrk run")
    parser.add_argument("--wrk-threads", type=support.positive, default=2)
    parser.add_argument("--serve", type=int, default=0, help="(debugging) keep the servers up this many seconds instead of measuring")
    return parser.parse_args(argv)


# --- data -------------------------------------------------------------------------------------
def build_content() -> str:
    """The organisation and its incident page, through the services; returns the page's path."""
    from crisiscenter.celery import app as celery_app
    from crisiscenter.models import Membership, Organization, Role, User
    from django.utils import timezone
    from playbooks import incident_services
    from playbooks import services as playbook_services
    from responses import services
    from responses.models import HubPage
    from tests.factories import valid_playbook_document

    celery_app.conf.task_always_eager = True  # publications run in this process, as a worker would
    organization = Organization.objects.create(name="Northwind Razors", slug="northwind")
    members = {}
    for username, role in (("olivia", Role.OWNER), ("rahul", Role.RESPONDER), ("mia", Role.MANAGER)):
        user = User.objects.create(username=username, email=f"{username}@example.com", display_name=username.capitalize())
        members[username] = Membership.unscoped.create(organization=organization, user=user, role=role)
    author, approver = members["rahul"], members["mia"]
    document = valid_playbook_document(help_resources=[
        {"title": "Customer service (24/7)", "url": "tel:+3120000000"},
        {"title": "Refund and replacement form", "url": "https://northwind.example/refund"},
        {"title": "Write to us", "url": "mailto:care@northwind.example"},
    ])
    playbook = playbook_services.playbook_create(organization=organization, actor_membership=members["olivia"], document=document)
    incident = incident_services.incident_open(organization=organization, actor_membership=members["olivia"], title="Blade batch 42", playbook=playbook)

    def approve(statement):
        services.statement_submit(statement=statement, actor_membership=author)
        statement.refresh_from_db()
        services.statement_decide(statement=statement, actor_membership=approver, version_number=statement.current_version.number, decision="approve")
        statement.refresh_from_db()
        services.statement_publish(statement=statement, actor_membership=approver)
        statement.refresh_from_db()
        return statement

    paragraph = ("We are checking every razor of batch 42 with our supplier and the safety regulator. "
                 "If your razor's handle shows a number starting with 42, please stop using it. ")
    statuses = ["investigating"] * 3 + ["identified"] * 5 + ["monitoring"] * 4
    statements = []
    for number in range(12):
        kind = "holding" if number == 0 else "correction" if number == 6 else "update"
        fields = {
            "headline": f"Update {number + 1}: batch 42 razors", "body": paragraph * 3 + f"(update {number + 1})",
            "what_happened": paragraph * 2, "known": paragraph, "unknown": "How many razors are affected in total.",
            "what_to_do": "Stop using razors of batch 42 and request a free replacement.", "public_status": statuses[number],
            "next_update_at": (timezone.now() + timedelta(hours=1)).isoformat(),
        }
        statement = services.statement_draft(incident=incident, actor_membership=author, kind=kind, target_channels=["hub"], fields=fields,
                                             corrects_id=statements[2].pk if kind == "correction" else None, spokesperson_id=approver.user_id)
        statement = approve(statement)
        if number in (1, 4, 8):  # republished with new wording: the old one stays as history
            services.statement_edit(statement=statement, actor_membership=author, base_version=statement.current_version.number,
                                    fields={"body": paragraph * 3 + f"(update {number + 1}, revised)"})
            statement.refresh_from_db()
            statement = approve(statement)
        translation = services.statement_translate(statement=statement, actor_membership=author, language="nl",
                                                   fields={"headline": f"Update {number + 1}: scheermesjes partij 42", "body": "Wij controleren elk scheermes. " * 12})
        approve(translation)
        statements.append(statement)
    for number in range(10):
        faq = services.statement_draft(incident=incident, actor_membership=author, kind="faq", target_channels=["hub"],
                                       fields={"question": f"Question {number + 1}: is my razor affected?", "body": paragraph * 2})
        faq = approve(faq)
        translation = services.statement_translate(statement=faq, actor_membership=author, language="nl",
                                                   fields={"question": f"Vraag {number + 1}: is mijn scheermes getroffen?", "body": "Kijk op de verpakking. " * 8})
        approve(translation)
    page = HubPage.objects.for_organization(organization).get(incident=incident)
    return f"/hub/{organization.slug}/{page.slug}/"


# --- processes --------------------------------------------------------------------------------
def start_gunicorn(env, port, workers, threads, app="crisiscenter.wsgi", chdir=support.ROOT) -> subprocess.Popen:
    # The Procfile's web command, with the gthread worker (keep-alive) and without the per-request
    # access log (a log line per request would be measured too; nginx logs in production).
    command = [str(Path(sys.executable).parent / "gunicorn"), app, "--chdir", str(chdir), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--worker-class", "gthread", "--threads", str(threads), "--timeout", "30", "--keep-alive", "30", "--log-level", "warning"]
    return subprocess.Popen(command, cwd=support.ROOT, env=env)


def nginx_config(directory: Path, *, app_port: int, proxy_port: int, static_port: int, static_root: Path) -> Path:
    """The shipped config with its upstreams pointed at this machine, plus a static-file server."""
    shipped = NGINX_CONF.read_text()
    shipped = shipped.replace("server web:8000;", f"server 127.0.0.1:{app_port};").replace("server websocket:8001;", "server 127.0.0.1:9;")
    shipped = shipped.replace("listen 80;", f"listen 127.0.0.1:{proxy_port} backlog=4096;")
    shipped = shipped.replace("/var/cache/nginx/hub", str(directory / "cache"))
    (directory / "site.conf").write_text(shipped)
    main = f"""
daemon off;
worker_processes auto;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types {{ text/html html; }}
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/site.conf;
    server {{
        listen 127.0.0.1:{static_port} backlog=4096;
        root {static_root};
        location / {{ try_files /page.html =404; default_type "text/html; charset=utf-8"; }}
    }}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(main)
    return path


def wrk(url: str, args) -> tuple[float, float, str]:
    """(requests/s, p99 ms, problems) of a wrk run against ``url``; problems are wrk's socket
    errors and non-2xx/3xx counts (requests that timed out are not in its latency figures, so
    any timeout fails the target)."""
    output = subprocess.run(["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--latency", *HEADERS, url],
                            capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    problems = " ".join(line.strip() for line in output.splitlines() if "Socket errors" in line or "Non-2xx" in line)
    return rate, p99_ms, problems


def fetch(url: str, language: str = "en-US,en;q=0.9") -> bytes:
    request = urllib.request.Request(url, headers={"Accept-Language": language})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def visibility_seconds(url: str, organization_slug: str, incident_path: str, marker: str, tell: bool) -> float:
    """Publish a new update and poll ``url`` until it shows; with ``tell``, call hub_changed
    after the commit, as the publishing service will."""
    from crisiscenter.models import Membership, Organization
    from playbooks.models import Incident
    from responses import hub, services
    from responses.models import HubPage

    organization = Organization.objects.get(slug=organization_slug)
    page = HubPage.objects.for_organization(organization).get(slug=incident_path.rstrip("/").rsplit("/", 1)[-1])
    incident = Incident.objects.for_organization(organization).get(pk=page.incident_id)
    author = Membership.objects.for_organization(organization).get(user__username="rahul")
    approver = Membership.objects.for_organization(organization).get(user__username="mia")
    statement = services.statement_draft(incident=incident, actor_membership=author, kind="update", target_channels=["hub"],
                                         fields={"headline": marker, "body": f"{marker} body"})
    services.statement_submit(statement=statement, actor_membership=author)
    statement.refresh_from_db()
    services.statement_decide(statement=statement, actor_membership=approver, version_number=statement.current_version.number, decision="approve")
    statement.refresh_from_db()
    services.statement_publish(statement=statement, actor_membership=approver)  # eager: the hub publication has run when this returns
    published = time.monotonic()
    if tell:
        hub.hub_changed(organization.pk)
    while time.monotonic() - published < 30:
        if marker.encode() in fetch(url):
            return time.monotonic() - published
        time.sleep(0.05)
    return float("inf")


def run(argv) -> bool:
    args = parse(argv)
    if support.skipped_without_services(REDIS_URL):
        return True
    if shutil.which("wrk") is None:
        print("SKIPPED: wrk is not installed (apt-get install -y wrk)")
        return True
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    support.recreate_database(DATABASE)
    work = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    env = support.django_env(database=DATABASE, redis_url=REDIS_URL, DEBUG="0", SITE_URL="http://127.0.0.1",
                             CRISISCENTER_DATA_DIR=str(work / "data"), EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    servers: list[subprocess.Popen] = []
    try:
        support.migrate(env)
        # As `make prod` does: the production static storage needs its manifest.
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=support.ROOT, env=env, check=True)
        support.setup_django(env)
        started = time.monotonic()
        path = build_content()
        print(f"content: 12 updates (3 republished, 1 correction), 10 FAQ, nl translations, help links — built in {time.monotonic() - started:.1f} s")
        # As autovacuum would have after the writes, so it does not run during the measurements.
        database = support.connect(DATABASE)
        try:
            with database.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        finally:
            database.close()
        app_port = support.processes.free_port()
        gunicorn = start_gunicorn(env, app_port, args.workers, args.threads)
        servers.append(gunicorn)
        support.wait_for_port(app_port, gunicorn)
        app_url = f"http://127.0.0.1:{app_port}{path}"
        body = fetch(app_url)
        assert b"Update 12" in body and b"Question 10" in body, "the page did not render its content"
        print(f"page: {path} — {len(body):,} bytes; gunicorn gthread, {args.workers} workers × {args.threads} threads; "
              f"wrk {args.connections} connections, {args.duration} s, {os.cpu_count()} CPUs shared with wrk")
        fetch(app_url)  # warm every worker's cache a little (each renders once)

        app_rate, app_p99, app_errors = wrk(app_url, args)
        app_ok = app_rate >= TARGET_RPS and app_p99 <= TARGET_P99_MS and not app_errors
        print(f"app alone (gunicorn):          {app_rate:9,.0f} req/s   p99 {app_p99:7.1f} ms   "
              f"target ≥ {TARGET_RPS:,} req/s and p99 ≤ {TARGET_P99_MS:.0f} ms: {'MET' if app_ok else 'MISSED'}")
        if app_errors:
            print(f"  wrk: {app_errors}")
        # The floor of this server on this machine: a bare WSGI function returning the same bytes.
        (work / "floor").mkdir()
        (work / "floor" / "page.html").write_bytes(body)
        (work / "floor" / "floor_app.py").write_text(
            "import pathlib\nBODY = (pathlib.Path(__file__).parent / 'page.html').read_bytes()\n"
            "def application(environ, start_response):\n"
            "    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'), ('Content-Length', str(len(BODY)))])\n"
            "    return [BODY]\n"
        )
        floor_port = support.processes.free_port()
        floor = start_gunicorn(env, floor_port, args.workers, args.threads, app="floor_app:application", chdir=work / "floor")
        servers.append(floor)
        support.wait_for_port(floor_port, floor)
        floor_rate, floor_p99, floor_errors = wrk(f"http://127.0.0.1:{floor_port}/", args)
        support.stop_servers(floor)
        servers.remove(floor)
        print(f"floor: bare WSGI app, same gunicorn: {floor_rate:9,.0f} req/s   p99 {floor_p99:7.1f} ms   (the app reaches {app_rate / floor_rate:.0%} of it)"
              + (f"   wrk: {floor_errors}" if floor_errors else ""))
        if nginx is None:
            print("nginx not installed: skipping the static-file reference and the through-nginx run (apt-get install -y nginx-light)")
            return app_ok
        work.chmod(0o755)  # nginx's workers run as an unprivileged user when started by root
        for name in ("cache", "body", "proxy", "fastcgi", "uwsgi", "scgi", "static"):
            (work / name).mkdir()
            (work / name).chmod(0o777)
        (work / "static" / "page.html").write_bytes(body)
        proxy_port, static_port = support.processes.free_port(), support.processes.free_port()
        config = nginx_config(work, app_port=app_port, proxy_port=proxy_port, static_port=static_port, static_root=work / "static")
        subprocess.run([nginx, "-t", "-q", "-c", str(config)], check=True)
        server = subprocess.Popen([nginx, "-c", str(config)], stderr=subprocess.DEVNULL)
        servers.append(server)
        support.wait_for_port(static_port, server)
        support.wait_for_port(proxy_port, server)
        proxy_url = f"http://127.0.0.1:{proxy_port}{path}"
        # The same request wrk sends, so the measurement starts from nginx's steady state (a
        # cold key makes waiting requests poll nginx's cache lock every 500 ms).
        assert fetch(proxy_url) == body and fetch(f"http://127.0.0.1:{static_port}{path}") == body

        if args.serve:
            print(f"serving: app {app_url} nginx {proxy_url} static http://127.0.0.1:{static_port}{path} for {args.serve} s", flush=True)
            time.sleep(args.serve)
            return True
        static_rate, static_p99, _ = wrk(f"http://127.0.0.1:{static_port}{path}", args)
        proxy_rate, proxy_p99, proxy_errors = wrk(proxy_url, args)
        ratio = proxy_rate / static_rate
        nginx_ok = ratio >= TARGET_NGINX_RATIO and not proxy_errors
        print(f"reference: nginx static file:  {static_rate:9,.0f} req/s   p99 {static_p99:7.1f} ms")
        print(f"app through deploy/nginx.conf: {proxy_rate:9,.0f} req/s   p99 {proxy_p99:7.1f} ms   "
              f"{ratio:.0%} of the static file (target ≥ {TARGET_NGINX_RATIO:.0%}): {'MET' if nginx_ok else 'MISSED'}")
        if proxy_errors:
            print(f"  wrk: {proxy_errors}")

        told = visibility_seconds(proxy_url, "northwind", path, "VISIBLE-TOLD", tell=True)
        untold = visibility_seconds(proxy_url, "northwind", path, "VISIBLE-UNTOLD", tell=False)
        visible_ok = max(told, untold) <= VISIBILITY_BUDGET_S
        print(f"publication → visible through nginx: {told:.2f} s with hub_changed, {untold:.2f} s without "
              f"(budget {VISIBILITY_BUDGET_S:.0f} s, excluding the browser's max-age=2): {'MET' if visible_ok else 'MISSED'}")
        return app_ok and nginx_ok and visible_ok
    finally:
        support.stop_servers(*reversed(servers))
        shutil.rmtree(work, ignore_errors=True)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001
            pass
        support.drop_database(DATABASE)


if __name__ == "__main__":
    os.environ["BENCH_HUB_CHILD"] = "1"
    sys.exit(0 if main(sys.argv[1:]) else 1)
