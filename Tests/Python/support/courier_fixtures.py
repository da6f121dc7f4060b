"""Shared pytest fixtures and helpers for the suites that run real Courier processes on loopback
(Tests/Python/iris, Tests/Python/asgardian). A suite's conftest.py star-imports this module, so every
fixture here is available there; each is module-scoped, so every test module gets its own stack.

- `pg`: a throwaway Postgres cluster; `broker`: Tansu; `asgardian`: `courier asgardian` with a first
  admin (ADMIN_EMAIL / ADMIN_PASSWORD), mailing through Iris at `iris_grpc_port`;
- `smtp`: aiosmtpd (support/smtp_server.py) writing each mail to `smtp.maildir`;
- `start_iris(...)` starts a `courier iris` on its own database.
"""

import pathlib
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

SUPPORT = pathlib.Path(__file__).resolve().parent
ROOT = SUPPORT.parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(SUPPORT))
import courier_protos  # noqa: E402
import courier_stack as stack  # noqa: E402

PYTHON = sys.executable
WAIT = 60.0
ADMIN_EMAIL = "admin@courier.test"
ADMIN_PASSWORD = "correct horse battery staple 42"

__all__ = [
    "ADMIN_EMAIL", "ADMIN_PASSWORD", "PYTHON", "SUPPORT", "WAIT", "Helper", "admin_token", "asgardian", "broker",
    "courier_protos", "eventually", "iris_grpc_port", "login", "pb", "pg", "received_mail", "smtp", "stack",
    "start_iris", "start_smtp", "user_token", "workdir",
]


def eventually(check, what, timeout=WAIT, detail=None):
    """Polls `check()` until it returns a truthy value, which it returns. On timeout the failure
    says `what`, and what `detail()` returns if given."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f"\n{detail()}" if detail else ""))
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


class Helper:
    """A helper server script that prints `listening <port> ...` when ready."""

    def __init__(self, argv, name, directory):
        self.name = name
        self.log = directory / f"{name}.log"
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(self.log, "wb"), text=True)
        line = self.process.stdout.readline().split()
        if not line or line[0] != "listening":
            stack.stop_process(self.process)
            pytest.fail(f"{name} did not start: {line}{stack.tail(self.log)}")
        self.port = int(line[1])
        self.extra = line[2:]

    def stop(self):
        stack.stop_process(self.process)


@pytest.fixture(scope="module")
def pb():
    return courier_protos.load()


@pytest.fixture(scope="module")
def workdir(request, tmp_path_factory):
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def pg():
    # Not under pytest's tmp_path: that is private to root, and Postgres runs as `postgres`.
    cluster = stack.Postgres(tempfile.mkdtemp(prefix="courier-pg-"), durable=False).start()
    yield cluster
    cluster.stop(remove=True)


@pytest.fixture(scope="module")
def broker(workdir):
    tansu = stack.Tansu(workdir / "tansu").start()
    yield tansu
    tansu.stop()


@pytest.fixture(scope="module")
def iris_grpc_port():
    """The main Iris' gRPC port, chosen before Asgardian starts so that Asgardian can mail through it."""
    return stack.free_port()


def asgardian_settings(pg, workdir, broker, iris_grpc_port, database="asgardian_db", **extra):
    """The environment of a `courier asgardian` on `database` (made if missing)."""
    pg.prepare_courier_database(database, bin_dir=stack.swift_bin_dir())
    return {
        "ASGARDIAN_DATABASE_URL": pg.url(user="asgardian", database=database),
        "ASGARDIAN_GRPC_PORT": "0",
        "ASGARDIAN_HTTP_PORT": "0",
        "ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ASGARDIAN_KEY_FILE": str(workdir / "asgardian-signing-key"),
        "ASGARDIAN_SCRYPT_LOG_N": "12",
        "COURIER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "COURIER_IRIS_ADDRESS": f"127.0.0.1:{iris_grpc_port}",
        **extra,
    }


@pytest.fixture(scope="module")
def asgardian(pg, workdir, broker, iris_grpc_port):
    service = stack.Service("asgardian", asgardian_settings(pg, workdir, broker, iris_grpc_port),
                            workdir / "asgardian").start()
    yield service
    assert service.stop() == 0, f"asgardian did not stop cleanly{stack.tail(service.log)}"


def login(asgardian, address, password, client=None):
    """The access token of a password login over REST (from `client`, an X-Forwarded-For address)."""
    headers = {"X-Forwarded-For": client} if client else {}
    response = requests.post(f"{asgardian.http}/auth/login", json={"email": address, "password": password},
                             headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["tokens"]["accessToken"]


@pytest.fixture(scope="module")
def user_token(asgardian):
    address = f"ada-{uuid.uuid4().hex[:8]}@courier.test"
    password = "a long and secret pass phrase"
    response = requests.post(f"{asgardian.http}/auth/signup", json={
        "email": address, "password": password, "displayName": "Ada Lovelace"}, timeout=30)
    assert response.status_code == 200, response.text
    return login(asgardian, address, password), response.json()["user"]["userId"]


@pytest.fixture(scope="module")
def admin_token(asgardian):
    return login(asgardian, ADMIN_EMAIL, ADMIN_PASSWORD)


def start_smtp(workdir, name, *options):
    maildir = workdir / name
    helper = Helper([PYTHON, str(SUPPORT / "smtp_server.py"), str(maildir), *options], name, workdir)
    helper.maildir = maildir
    return helper


def received_mail(maildir):
    return sorted(pathlib.Path(maildir).glob("*.eml")) if pathlib.Path(maildir).exists() else []


def start_iris(pg, workdir, asgardian, name, **env):
    database = f"iris_{name}"
    pg.prepare_courier_database(database)
    settings = {
        "IRIS_DATABASE_URL": pg.url(user="iris", database=database),
        "IRIS_GRPC_PORT": "0",
        "IRIS_HTTP_PORT": "0",
        "IRIS_VAPID_KEY_FILE": str(workdir / f"{name}-vapid"),
        "IRIS_MAIL_DROP_DIR": str(workdir / f"{name}-drop"),
        "IRIS_RETRY_BASE_DELAY": "200ms",
        "IRIS_RETRY_POLL_INTERVAL": "100ms",
        "COURIER_IDENTITY_ADDRESS": asgardian.grpc,
        **env,
    }
    return stack.Service("iris", settings, workdir / name).start()


@pytest.fixture(scope="module")
def smtp(workdir):
    helper = start_smtp(workdir, "smtp-plain")
    yield helper
    helper.stop()
