#!/usr/bin/env python3
"""A throwaway SMTP server for Courier's mail tests (aiosmtpd on 127.0.0.1).

Serve:
    smtp_server.py MAILDIR [--port N] [--starttls CERT KEY [--require-starttls]] [--tls CERT KEY]
                           [--auth USER:PASS] [--fail-first N] [--reject]

Listens on 127.0.0.1 (a free port unless --port), checks that it answers (connects to itself and
reads the 220 greeting), then prints `listening <port>` on stdout. Each accepted mail is stored as
MAILDIR/<stamp>-<uuid>.eml (the DATA bytes as received, CRLF line ends) with the envelope in
MAILDIR/<stamp>-<uuid>.json (mail_from, rcpt_tos, tls, auth_login, peer, received_at); the JSON is
written first and each file is renamed into place, so a test that sees the .eml can read both.

    --starttls CERT KEY   offer STARTTLS with this PEM certificate and key
    --require-starttls    refuse every command but EHLO/NOOP/QUIT/STARTTLS before the upgrade
    --tls CERT KEY        implicit TLS (SMTPS): TLS from the first byte
    --auth USER:PASS      offer AUTH PLAIN and LOGIN, accept only these credentials, and refuse
                          MAIL before authentication (over TLS only when TLS is offered)
    --fail-first N        answer `451 4.3.0 try again later` to the first N DATA commands
    --reject              answer `550 5.1.1 recipient rejected` to every RCPT

Make a self-signed certificate and key for 127.0.0.1 and localhost:
    smtp_server.py --gen-cert CERT KEY

SIGTERM or SIGINT stops the server. Needs aiosmtpd and cryptography (see requirements.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import signal
import ssl
import sys
import time
import uuid
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    """Stores accepted mail; fails or rejects on request."""

    def __init__(self, maildir: Path, fail_first: int, reject: bool) -> None:
        self.maildir = maildir
        self.fail_remaining = fail_first
        self.reject = reject

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        if self.reject:
            return "550 5.1.1 recipient rejected"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        if self.fail_remaining > 0:
            self.fail_remaining -= 1
            return "451 4.3.0 try again later"
        name = f"{time.time_ns()}-{uuid.uuid4()}"
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        envelope_info = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "auth_login": login.decode("utf-8", "replace") if isinstance(login, bytes) else login,
            "peer": list(session.peer) if session.peer else None,
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        write_atomically(self.maildir / f"{name}.json", json.dumps(envelope_info, indent=2).encode())
        write_atomically(self.maildir / f"{name}.eml", bytes(envelope.original_content or envelope.content))
        return f"250 2.0.0 OK queued as {name}"


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


class Authenticator:
    """Accepts exactly one login and password (PLAIN and LOGIN both give a LoginPassword)."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def probe(port: int, implicit_tls: bool) -> None:
    """Connects to ourselves and reads the greeting, so `listening` means the server answers."""
    context = None
    if implicit_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), 10)
    try:
        greeting = await asyncio.wait_for(reader.readline(), 10)
        if not greeting.startswith(b"220"):
            raise RuntimeError(f"unexpected greeting {greeting!r}")
        writer.write(b"QUIT\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def serve(args: argparse.Namespace) -> None:
    maildir = Path(args.maildir)
    maildir.mkdir(parents=True, exist_ok=True)
    handler = Handler(maildir, args.fail_first, args.reject)
    starttls_context = server_context(*args.starttls) if args.starttls else None
    implicit_context = server_context(*args.tls) if args.tls else None
    authenticator = None
    if args.auth:
        user, separator, password = args.auth.partition(":")
        if not separator:
            raise SystemExit("--auth wants USER:PASS")
        authenticator = Authenticator(user, password)

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="courier-test-smtp",
            tls_context=starttls_context,
            require_starttls=bool(starttls_context and args.require_starttls),
            authenticator=authenticator,
            auth_required=authenticator is not None,
            # AUTH only over TLS when the server has TLS at all; plain AUTH otherwise (tests).
            auth_require_tls=starttls_context is not None,
        )

    loop = asyncio.get_running_loop()
    # A launcher may start us from a thread that blocks signals (the mask is inherited): unblock
    # the two we stop on, or SIGTERM would never arrive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    server = await loop.create_server(factory, "127.0.0.1", args.port, ssl=implicit_context)
    port = server.sockets[0].getsockname()[1]
    await probe(port, implicit_tls=implicit_context is not None)
    print(f"listening {port}", flush=True)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def generate_certificate(cert_path: str, key_path: str) -> None:
    """A self-signed P-256 certificate for 127.0.0.1 and localhost, valid for a week."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    Path(key_path).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    Path(cert_path).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("maildir", nargs="?", help="folder for the received .eml and .json files")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="implicit TLS")
    parser.add_argument("--auth", metavar="USER:PASS")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N")
    parser.add_argument("--reject", action="store_true")
    parser.add_argument("--gen-cert", nargs=2, metavar=("CERT", "KEY"), help="write a self-signed cert and key, then exit")
    args = parser.parse_args(argv)

    if args.gen_cert:
        generate_certificate(*args.gen_cert)
        return 0
    if not args.maildir:
        parser.error("MAILDIR is required (or --gen-cert CERT KEY)")
    if args.require_starttls and not args.starttls:
        parser.error("--require-starttls needs --starttls CERT KEY")
    if args.starttls and args.tls:
        parser.error("choose --starttls or --tls, not both")
    if args.fail_first < 0:
        parser.error("--fail-first must not be negative")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
