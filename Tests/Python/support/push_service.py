#!/usr/bin/env python3
"""A stand-in Web Push service for integration tests (RFC 8030, RFC 8291, RFC 8292).

It plays both the push service and the browser behind it: it hands out subscriptions (a P-256 key
pair and an auth secret it keeps), and for every push it checks the VAPID token and the headers,
decrypts the body with the subscription's private key and records what it got.

    python push_service.py STATE_DIR [--port PORT]

It makes a throwaway CA and a server certificate for 127.0.0.1 in STATE_DIR, serves HTTPS on
127.0.0.1 (a free port unless --port is given) and prints one line when ready:

    listening <port> <STATE_DIR/ca.pem>

Give that CA file to the sender (WebPushSender's trustRootsPEMFile).

Pushes: POST /push/<name>
  201  checked, decrypted and recorded
  400  bad headers or a body that does not decrypt (the body says why)
  403  a missing or bad VAPID token (the body says why)
  404  no such subscription; 410 a subscription set to "gone"
  413  a body over 4096 bytes
  500 or 429 (with Retry-After) while a subscription is set to fail

Control API (JSON):
  POST   /control/subscriptions  {"name"?: str, "application_server_key"?: str}
         -> {"name", "endpoint", "p256dh", "auth"}; with application_server_key, pushes must carry
            that VAPID key (as a browser's applicationServerKey restricts a subscription)
  POST   /control/behaviour      {"name": str, "mode": "accept" | "gone" | "fail",
                                  "count"?: int, "status"?: 500 | 429 | ..., "retry_after"?: str}
  GET    /control/received       -> {"received": [{"name", "status", "headers", "plaintext"
                                     (UTF-8 text, or null), "plaintext_b64" (base64url), "error"}]}
  DELETE /control/received       forgets what was received
"""

import argparse
import base64
import datetime
import http.server
import ipaddress
import json
import os
import re
import secrets
import signal
import ssl
import sys
import threading
import time

import http_ece
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

MAX_BODY = 4096
MAX_VAPID_LIFETIME = 24 * 3600
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOPIC_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
URGENCIES = {"very-low", "low", "normal", "high"}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Rejection(Exception):
    """A push the service refuses: the HTTP status and the reason sent as the body."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- TLS material -----------------------------------------------------------------------------

def write_certificates(folder: str) -> tuple[str, str, str]:
    """Makes a CA and a server certificate for 127.0.0.1/localhost; returns (ca, cert, key) paths."""
    os.makedirs(folder, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push-service test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    paths = tuple(os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server-key.pem"))
    with open(paths[0], "wb") as f:
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(server_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


# --- State ------------------------------------------------------------------------------------

class Subscription:
    def __init__(self, name: str, application_server_key: str | None):
        self.name = name
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = secrets.token_bytes(16)
        self.application_server_key = application_server_key
        self.mode = "accept"
        self.failures_left = 0
        self.failure_status = 500
        self.retry_after = None

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url_encode(point)


class PushState:
    def __init__(self):
        self.lock = threading.Lock()
        self.subscriptions: dict[str, Subscription] = {}
        self.received: list[dict] = []
        self.origin = ""  # set once the port is known


# --- Checks -----------------------------------------------------------------------------------

def check_vapid(authorization: str | None, origin: str, subscription: Subscription) -> dict:
    """Verifies `vapid t=<JWT>, k=<key>` (RFC 8292); returns the claims or raises Rejection(403)."""
    if not authorization:
        raise Rejection(403, "missing Authorization header")
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise Rejection(403, f"Authorization scheme is {scheme!r}, expected 'vapid'")
    fields = {}
    for part in params.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    token, key_text = fields.get("t"), fields.get("k")
    if not token or not key_text:
        raise Rejection(403, "Authorization lacks t= or k=")

    pieces = token.split(".")
    if len(pieces) != 3:
        raise Rejection(403, "VAPID token is not a three-part JWT")
    try:
        header = json.loads(b64url_decode(pieces[0]))
        claims = json.loads(b64url_decode(pieces[1]))
        signature = b64url_decode(pieces[2])
        key_bytes = b64url_decode(key_text)
    except (ValueError, json.JSONDecodeError) as error:
        raise Rejection(403, f"VAPID token does not decode: {error}")
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise Rejection(403, f"VAPID token alg is {header.get('alg') if isinstance(header, dict) else None!r}, expected ES256")
    if header.get("typ", "JWT") != "JWT":
        raise Rejection(403, f"VAPID token typ is {header.get('typ')!r}, expected JWT")
    if len(signature) != 64:
        raise Rejection(403, f"VAPID signature is {len(signature)} bytes, expected 64 (r || s)")
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
    except ValueError:
        raise Rejection(403, "k is not a P-256 public key")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, f"{pieces[0]}.{pieces[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Rejection(403, "VAPID signature does not verify with k")

    if subscription.application_server_key and b64url_encode(key_bytes) != b64url_encode(
        b64url_decode(subscription.application_server_key)
    ):
        raise Rejection(403, "k is not the application server key this subscription was made for")
    if not isinstance(claims, dict):
        raise Rejection(403, "VAPID claims are not a JSON object")
    if claims.get("aud") != origin:
        raise Rejection(403, f"VAPID aud is {claims.get('aud')!r}, expected {origin!r}")
    exp = claims.get("exp")
    now = time.time()
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Rejection(403, f"VAPID exp is {exp!r}, expected an integer")
    if exp <= now:
        raise Rejection(403, f"VAPID token expired {now - exp:.0f} s ago")
    if exp > now + MAX_VAPID_LIFETIME:
        raise Rejection(403, f"VAPID exp is {exp - now:.0f} s ahead; at most 24 h is allowed")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise Rejection(403, f"VAPID sub is {sub!r}, expected a mailto: or https: URL")
    return claims


def check_headers(headers) -> None:
    """TTL, Content-Encoding, Urgency and Topic as RFC 8030 and RFC 8291 require; raises Rejection(400)."""
    ttl = headers.get("TTL")
    if ttl is None or not ttl.isdigit():
        raise Rejection(400, f"TTL header is {ttl!r}, expected non-negative delta-seconds")
    encoding = headers.get("Content-Encoding")
    if encoding != "aes128gcm":
        raise Rejection(400, f"Content-Encoding is {encoding!r}, expected 'aes128gcm'")
    urgency = headers.get("Urgency")
    if urgency is not None and urgency not in URGENCIES:
        raise Rejection(400, f"Urgency is {urgency!r}, expected one of {sorted(URGENCIES)}")
    topic = headers.get("Topic")
    if topic is not None and not TOPIC_PATTERN.match(topic):
        raise Rejection(400, f"Topic {topic!r} is not 1 to 32 base64url characters")


def decrypt(body: bytes, subscription: Subscription) -> bytes:
    try:
        return http_ece.decrypt(
            body,
            private_key=subscription.private_key,
            auth_secret=subscription.auth,
            version="aes128gcm",
        )
    except Exception as error:  # http_ece raises several types for bad input
        raise Rejection(400, f"body does not decrypt: {type(error).__name__}: {error}")


# --- HTTP -------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "push-service-stand-in"
    state: PushState  # set on the subclass made in main()

    def log_message(self, format, *args):  # keep the test output quiet
        pass

    def reply(self, status: int, body: bytes = b"", content_type: str = "text/plain", extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, value):
        self.reply(status, json.dumps(value).encode("utf-8"), "application/json")

    def read_body(self, limit: int) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.reply(411, b"Content-Length required")
            return None
        size = int(length)
        if size > limit:
            self.rfile.read(size)
            self.reply(413, f"body of {size} bytes exceeds {limit}".encode())
            return None
        return self.rfile.read(size)

    def read_json(self) -> dict | None:
        body = self.read_body(1 << 20)
        if body is None:
            return None
        try:
            value = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            self.reply_json(400, {"error": f"body is not JSON: {error}"})
            return None
        if not isinstance(value, dict):
            self.reply_json(400, {"error": "body must be a JSON object"})
            return None
        return value

    def do_GET(self):
        if self.path == "/control/received":
            with self.state.lock:
                self.reply_json(200, {"received": list(self.state.received)})
        else:
            self.reply_json(404, {"error": f"no route GET {self.path}"})

    def do_DELETE(self):
        if self.path == "/control/received":
            with self.state.lock:
                self.state.received.clear()
            self.reply_json(200, {})
        else:
            self.reply_json(404, {"error": f"no route DELETE {self.path}"})

    def do_POST(self):
        if self.path.startswith("/push/"):
            self.push(self.path[len("/push/"):])
        elif self.path == "/control/subscriptions":
            self.create_subscription()
        elif self.path == "/control/behaviour":
            self.set_behaviour()
        else:
            self.reply_json(404, {"error": f"no route POST {self.path}"})

    def create_subscription(self):
        request = self.read_json()
        if request is None:
            return
        name = request.get("name") or secrets.token_urlsafe(12)
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            self.reply_json(400, {"error": "name must be 1 to 64 characters of [A-Za-z0-9_-]"})
            return
        server_key = request.get("application_server_key")
        if server_key is not None:
            try:
                ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(server_key))
            except ValueError:
                self.reply_json(400, {"error": "application_server_key is not a P-256 public key"})
                return
        with self.state.lock:
            if name in self.state.subscriptions:
                self.reply_json(409, {"error": f"subscription {name!r} exists"})
                return
            subscription = Subscription(name, server_key)
            self.state.subscriptions[name] = subscription
        self.reply_json(
            201,
            {
                "name": name,
                "endpoint": f"{self.state.origin}/push/{name}",
                "p256dh": subscription.p256dh,
                "auth": b64url_encode(subscription.auth),
            },
        )

    def set_behaviour(self):
        request = self.read_json()
        if request is None:
            return
        mode = request.get("mode")
        if mode not in ("accept", "gone", "fail"):
            self.reply_json(400, {"error": "mode must be accept, gone or fail"})
            return
        count, status = request.get("count", 1), request.get("status", 500)
        if not isinstance(count, int) or count < 0 or not isinstance(status, int) or not 400 <= status <= 599:
            self.reply_json(400, {"error": "count must be an integer >= 0 and status one in 400...599"})
            return
        retry_after = request.get("retry_after")
        with self.state.lock:
            subscription = self.state.subscriptions.get(request.get("name"))
            if subscription is None:
                self.reply_json(404, {"error": f"no subscription {request.get('name')!r}"})
                return
            subscription.mode = mode
            subscription.failures_left = count if mode == "fail" else 0
            subscription.failure_status = status
            subscription.retry_after = None if retry_after is None else str(retry_after)
        self.reply_json(200, {})

    def push(self, name: str):
        body = self.read_body(MAX_BODY)
        headers = {key: value for key, value in self.headers.items()}
        record = {"name": name, "headers": headers, "plaintext": None, "plaintext_b64": None, "error": None}
        if body is None:  # read_body answered already (411 or 413)
            record.update(status=413 if self.headers.get("Content-Length", "").isdigit() else 411,
                          error="body refused")
            self.record(record)
            return

        with self.state.lock:
            subscription = self.state.subscriptions.get(name)
            scripted = None
            if subscription is not None and subscription.mode == "gone":
                scripted = (410, "subscription is gone", {})
            elif subscription is not None and subscription.failures_left > 0:
                subscription.failures_left -= 1
                extra = {"Retry-After": subscription.retry_after} if subscription.retry_after else {}
                scripted = (subscription.failure_status, "scripted failure", extra)
        if subscription is None:
            scripted = (404, "no such subscription", {})
        if scripted is not None:
            status, reason, extra = scripted
            record.update(status=status, error=reason)
            self.record(record)
            self.reply(status, reason.encode(), extra=extra)
            return

        try:
            check_vapid(self.headers.get("Authorization"), self.state.origin, subscription)
            check_headers(self.headers)
            plaintext = decrypt(body, subscription)
        except Rejection as rejection:
            record.update(status=rejection.status, error=rejection.reason)
            self.record(record)
            self.reply(rejection.status, rejection.reason.encode())
            return

        try:
            text = plaintext.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        record.update(status=201, plaintext=text, plaintext_b64=b64url_encode(plaintext))
        self.record(record)
        self.reply(201, extra={"Location": f"{self.state.origin}/message/{secrets.token_urlsafe(8)}"})

    def record(self, record: dict):
        with self.state.lock:
            self.state.received.append(record)


def main() -> int:
    parser = argparse.ArgumentParser(description="A stand-in Web Push service for tests.")
    parser.add_argument("state_dir", help="folder for the generated CA and server certificate")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()

    ca_path, cert_path, key_path = write_certificates(args.state_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    context.set_alpn_protocols(["http/1.1"])

    state = PushState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    # The handshake happens on first read, in the request's own thread, so a slow client blocks no one.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    port = server.server_address[1]
    state.origin = f"https://127.0.0.1:{port}"

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening {port} {os.path.abspath(ca_path)}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
