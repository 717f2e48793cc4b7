"""A statement end to end, in headless Chromium against the embedded server (what `make run`
serves, with its in-process worker): a responder drafts the holding statement from the
playbook's template and sends it for approval; a manager on a phone approves and publishes
it in one tap; it goes out on X first (the incident started there), then on the public hub
page and its Atom feed; the incident's first-statement clock stops.

X is faked at the network boundary of the server process: the server runs with HTTPS_PROXY
pointing at a proxy this test runs, which answers CONNECT for api.twitter.com, terminates TLS
with a certificate from a certificate authority made for this run (the server trusts it
through REQUESTS_CA_BUNDLE), and answers POST /2/tweets as X does. Nothing in the
application knows it is being tested.
"""

from __future__ import annotations

import html
import json
import re
import socket
import socketserver
import ssl
import subprocess
import threading
import urllib.request
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

import pytest

from tests.test_inbox_e2e import DEMO_PASSWORD, _log_in, chromium  # noqa: F401 (chromium is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
INCIDENT_TITLE = "Offensive post on our X account"
HEADLINE = "We are sorry for this morning's post"
SIGNATURE = "Bob Responder, Head of Social"
X_HOSTS = ("api.twitter.com", "api.x.com")


# --- a fake X behind a TLS-terminating proxy ------------------------------------------------------
def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A certificate authority for this run and a certificate for X's API hosts signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(dt_timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Crisis Center e2e CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, X_HOSTS[0])])).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host) for host in X_HOSTS]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, leaf_path, key_path = directory / "ca.pem", directory / "x.pem", directory / "x.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, leaf_path, key_path


class FakeX:
    """An HTTPS proxy that is X: every tunnelled request is recorded and POST /2/tweets is
    answered 201 with a new post id, as the v2 API answers."""

    def __init__(self, directory: Path):
        self.ca_path, leaf_path, key_path = _certificates(directory)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(leaf_path, key_path)
        self.requests: list[dict] = []
        self.tunnels: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                fake._handle(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(10)
        reader = connection.makefile("rb")
        request_line = reader.readline().decode("latin-1").strip()
        while reader.readline() not in (b"\r\n", b"\n", b""):
            pass
        method, target, _version = (request_line.split(" ") + ["", "", ""])[:3]
        host = target.rsplit(":", 1)[0]
        with self._lock:
            self.tunnels.append(target)
        if method != "CONNECT" or host not in X_HOSTS:
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with self.tls.wrap_socket(connection, server_side=True) as tls:
            stream = tls.makefile("rb")
            line = stream.readline().decode("latin-1").strip()
            headers = {}
            while (header := stream.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers.get("content-length") or 0))
            http_method, path, _ = line.split(" ", 2)
            with self._lock:
                self.requests.append({"host": host, "method": http_method, "path": path, "headers": headers, "body": body})
                tweet_id = str(1790000000000000000 + len(self.requests))
            if (http_method, path.split("?")[0]) == ("POST", "/2/tweets"):
                sent = json.loads(body or b"{}")
                answer = json.dumps({"data": {"id": tweet_id, "text": sent.get("text", ""), "edit_history_tweet_ids": [tweet_id]}}).encode()
                status = b"201 Created"
            else:
                answer, status = json.dumps({"title": "Not Found Error", "status": 404}).encode(), b"404 Not Found"
            tls.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n"
                        + f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)

    def posts(self) -> list[dict]:
        with self._lock:
            return [json.loads(r["body"]) for r in self.requests if r["method"] == "POST" and r["path"].startswith("/2/tweets")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_x(tmp_path_factory):
    fake = FakeX(tmp_path_factory.mktemp("fake-x"))
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def statement_server(tmp_path_factory, fake_x):
    """`manage.py serve` in the embedded mode (as `make run`), its outbound HTTPS going
    through the fake X proxy, on a fresh database with the demo organisation."""
    from tests import processes

    data_dir = tmp_path_factory.mktemp("embedded-statements")
    port = processes.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = processes.clean_env(
        CRISISCENTER_DATA_DIR=str(data_dir), WORKER_HEARTBEAT_SECONDS="2", SITE_URL=base_url,
        HTTPS_PROXY=fake_x.url, https_proxy=fake_x.url, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        REQUESTS_CA_BUNDLE=str(fake_x.ca_path),
    )
    for command in (["migrate", "--noinput", "-v", "0"], ["demo_setup"]):
        subprocess.run([processes.python(), "manage.py", *command], cwd=processes.ROOT, env=env, check=True, capture_output=True)
    server = processes.start([processes.python(), "manage.py", "serve", "--port", str(port)], env=env, log_path=data_dir / "serve.log")
    processes.wait_for(lambda: urllib.request.urlopen(f"{base_url}/accounts/login/", timeout=2).status == 200,
                       timeout=60, what="the embedded server", process=server)
    server.base_url, server.data_dir, server.env = base_url, data_dir, env
    yield server
    processes.stop(server)


def _shell(server, script: str) -> str:
    from tests import processes

    done = subprocess.run([processes.python(), "manage.py", "shell", "-c", script], cwd=processes.ROOT, env=server.env, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


SET_UP = f"""
import json
from crisiscenter.models import Membership, Organization, Role, User
from playbooks import incident_services
from playbooks.models import Playbook
from responses import services

organization = Organization.objects.get(slug="demo")
people = {{}}
for username, name, role in (("bob", "Bob Responder", Role.RESPONDER), ("carol", "Carol Manager", Role.MANAGER)):
    user, _ = User.objects.get_or_create(username=username, defaults={{"display_name": name, "email": username + "@demo.example"}})
    user.set_password("{DEMO_PASSWORD}")
    user.save()
    people[username] = Membership.unscoped.get_or_create(organization=organization, user=user, defaults={{"role": role}})[0]
admin = Membership.unscoped.get(organization=organization, user__username="admin")
services.channel_create(
    organization=organization, actor_membership=admin, kind="x", name="Demo on X", config={{"handle": "demo_brand"}},
    credentials={{"consumer_key": "e2e-consumer-key", "consumer_secret": "e2e-consumer-secret",
                 "access_token": "1234-e2e-access-token", "access_token_secret": "e2e-access-token-secret"}},
)
playbook = Playbook.objects.for_organization(organization).get(name__icontains="offensive")
incident = incident_services.incident_open(
    organization=organization, actor_membership=admin, title="{INCIDENT_TITLE}", playbook=playbook, severity=2,
    origin_platform="x", what_happened="A post from our account this morning was offensive.",
)
# carol approves for this incident (the demo plan names "manager").
incident_services.incident_assign_role(incident=incident, actor_membership=admin, role="approver_manager", member_id=people["carol"].user_id)
print(json.dumps({{"incident": incident.pk}}))
"""


def test_a_holding_statement_goes_from_template_to_x_and_the_hub_with_one_tap_on_a_phone(chromium, statement_server, fake_x):
    from playwright.sync_api import expect

    base_url = statement_server.base_url
    incident_id = json.loads(_shell(statement_server, SET_UP))["incident"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # bob drafts from the playbook's holding statement, in the composer beside the incident.
    bob = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _log_in(bob, base_url, "bob")
    bob.goto(f"{base_url}/o/demo/incidents/{incident_id}/")
    expect(bob.locator("#live-status")).to_have_attribute("data-state", "live")
    bob.locator("#part-statements").get_by_role("link", name="New statement").click()
    expect(bob.get_by_role("heading", name="New statement")).to_be_visible()
    composer = bob.locator("#composer-form")
    channels = composer.locator('input[name="target_channels"]')
    assert channels.nth(0).get_attribute("value") == "x", "the platform where it started comes first"
    expect(composer.locator('input[name="target_channels"][value="x"]')).to_be_checked()
    expect(composer.locator('input[name="target_channels"][value="hub"]')).to_be_checked()
    composer.get_by_role("radio", name=re.compile(r"^Apology \(own post\)")).check()
    body = composer.get_by_label("Text", exact=True)
    expect(body).to_have_value(re.compile(r"^Earlier today a post from our account was offensive and wrong\."))
    text = body.input_value()
    assert "[spokesperson]" in text, "an unknown placeholder stays visible"
    body.fill(text.replace("[spokesperson]", SIGNATURE))
    composer.get_by_label("Headline", exact=True).fill(HEADLINE)
    expect(composer.locator(".counter")).to_contain_text(re.compile(r"\d+ characters · (fits in 1 post|becomes a thread of \d+) on X"))
    # The live tone check answered (advice only): a list, even if it has nothing to say.
    expect(bob.locator('.tone-live[data-for="composer-form"] .tone-findings')).to_be_visible(timeout=10_000)
    expect(bob.locator(".voice-rules")).to_contain_text("Never blame")
    bob.screenshot(path=str(SCREENSHOTS / "composer-1280.png"), full_page=True)
    composer.get_by_role("button", name="Save and send for approval").click()
    expect(bob.get_by_test_id("statement-status")).to_have_text("Waiting for approval")
    statement_url = bob.url
    expect(bob.locator("#live-status")).to_have_attribute("data-state", "live")
    bob.evaluate("window.__sameLoad = true")

    # The admin watches the incident room, where the statement waits with its review clock.
    room = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _log_in(room, base_url, "admin")
    room.goto(f"{base_url}/o/demo/incidents/{incident_id}/")
    expect(room.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(room.locator("#part-statements .stmt-status").first).to_have_text("Waiting for approval")
    expect(room.locator("#part-statements [data-clock-due]").first).to_contain_text(re.compile(r"^in \d+m"))
    room.evaluate("window.__sameLoad = true")

    # carol, on her phone, approves and publishes it in one tap from her approvals.
    carol = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()
    _log_in(carol, base_url, "carol")
    carol.goto(f"{base_url}/o/demo/approvals/")
    card = carol.locator(".approval-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(HEADLINE)
    expect(card).to_contain_text(SIGNATURE)
    expect(card.locator('input[name="version"]').first).to_have_value("1")
    approve = card.get_by_role("button", name="Approve and publish")
    expect(approve).to_be_visible()
    box = approve.bounding_box()
    assert box["width"] >= 300 and box["height"] >= 44, f"the one tap is a big target on a phone: {box}"
    assert carol.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the approvals page scrolls sideways on a phone"
    carol.screenshot(path=str(SCREENSHOTS / "approvals-390x844.png"))
    approve.scroll_into_view_if_needed()
    carol.screenshot(path=str(SCREENSHOTS / "approvals-buttons-390x844.png"))
    approve.tap()
    expect(carol.locator(".messages")).to_contain_text("Approved and publishing")
    expect(carol.get_by_test_id("nothing-to-approve")).to_be_visible()
    carol.screenshot(path=str(SCREENSHOTS / "approvals-after-390x844.png"))

    # bob's open statement page follows live: out on X (first) and on the hub.
    expect(bob.get_by_test_id("statement-status")).to_have_text("Published", timeout=15_000)
    expect(bob.locator('.publication[data-channel="x"] .pub-status')).to_have_text("Published", timeout=30_000)
    expect(bob.locator('.publication[data-channel="hub"] .pub-status')).to_have_text("Published", timeout=30_000)
    assert bob.evaluate("window.__sameLoad === true"), "the statement page was reloaded"
    assert bob.url == statement_url

    # The incident room followed too, without a reload: published, and the clock stopped.
    expect(room.locator("#part-statements .stmt-status").first).to_have_text("Published", timeout=15_000)
    expect(room.locator(".clocks div").filter(has_text="First statement")).to_contain_text(re.compile(r"after \d+"), timeout=15_000)
    assert room.evaluate("window.__sameLoad === true"), "the incident room was reloaded"

    # The X adapter's request reached "X": the approved words, then the hub link.
    posts = fake_x.posts()
    assert posts, f"no POST /2/tweets reached the fake X (tunnels: {fake_x.tunnels})"
    assert posts[0]["text"].startswith(HEADLINE + "\n\n" + "Earlier today a post from our account")
    sent = " ".join(re.sub(r" \(\d+/\d+\)$", "", post["text"]) for post in posts)
    assert SIGNATURE in sent
    hub_link = bob.locator('.publication[data-channel="hub"] a').get_attribute("href")
    assert hub_link.startswith(f"{base_url}/hub/demo/")
    assert hub_link in posts[-1]["text"]
    if len(posts) > 1:
        assert all(post.get("reply", {}).get("in_reply_to_tweet_id") for post in posts[1:]), "a thread replies to its previous part"
    assert all(request["headers"].get("authorization", "").startswith("OAuth ") for request in fake_x.requests), "OAuth 1.0a user context"
    x_link = bob.locator('.publication[data-channel="x"] a').get_attribute("href")
    assert x_link.startswith("https://x.com/demo_brand/status/")

    # The statement page reads well on the phone too.
    carol.goto(statement_url)
    expect(carol.get_by_test_id("statement-status")).to_have_text("Published")
    assert carol.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the statement page scrolls sideways on a phone"
    carol.screenshot(path=str(SCREENSHOTS / "statement-390x844.png"))
    carol.locator("#part-publications").scroll_into_view_if_needed()
    carol.screenshot(path=str(SCREENSHOTS / "statement-publications-390x844.png"))

    # The public hub page and its Atom feed carry it.
    reader = chromium.new_context().new_page()
    reader.goto(hub_link)
    expect(reader.locator("body")).to_contain_text(HEADLINE)
    expect(reader.locator("body")).to_contain_text("Earlier today a post from our account was offensive and wrong.")
    feed = reader.request.get(f"{hub_link}feed.atom")
    assert feed.ok, feed.status
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert HEADLINE in html.unescape(feed.text())

    # The incident's first-statement clock stopped.
    bob.goto(f"{base_url}/o/demo/incidents/{incident_id}/")
    clock = bob.locator(".clocks div").filter(has_text="First statement")
    expect(clock).to_contain_text(re.compile(r"after \d+"))
    expect(bob.locator("#part-statements")).to_contain_text(HEADLINE)
    expect(bob.locator("#part-statements .stmt-status").first).to_have_text("Published")
    # The admin's publishing settings read on a phone too.
    settings_page = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()
    _log_in(settings_page, base_url, "admin")
    settings_page.goto(f"{base_url}/o/demo/publishing/")
    expect(settings_page.locator(".channel-card")).to_have_count(3)
    assert settings_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the publishing page scrolls sideways on a phone"
    settings_page.screenshot(path=str(SCREENSHOTS / "publishing-390x844.png"), full_page=True)

    stopped = _shell(statement_server, f"from playbooks.models import Incident; print(Incident.unscoped.get(pk={incident_id}).first_statement_at is not None)")
    assert stopped == "True"
