"""Fixtures for the suites that run the product as people use it: the whole stack behind nginx (the
same CourierStack that `scripts/run.sh` starts, here on free ports in a throwaway folder) and REST
helpers. A suite's conftest.py star-imports this module (Tests/Python/web, Tests/Python/examples);
the stack is module-scoped, so every test module gets its own.

- `courier`: the running stack: `courier.web_url` (nginx, HTTP/1.1: the fronts, REST, SSE),
  `courier.grpc_ingress` (nginx, h2c: gRPC), `courier.services[name]` (direct addresses),
  `courier.broker.bootstrap` (Kafka).
- `admin`: an `Api` logged in as the first admin; `new_user()` signs a fresh user up through REST;
  `world` registers deliverers and stuff and reports fixes as the admin and a device would.
- `pb`: Python classes and gRPC stubs generated from proto/ (support/courier_protos.py).
"""

import datetime
import os
import pathlib
import secrets
import shutil
import sys
import tempfile
import uuid

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[3]
# Where browser tests leave screenshots and logs for a person to look at.
ARTIFACTS = pathlib.Path(os.environ.get("COURIER_ARTIFACTS", ROOT / ".run" / "artifacts"))
CHROMIUM = os.environ.get("COURIER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COURIER_CHROMEDRIVER", "/usr/bin/chromedriver")


def chromium_options(*extra):
    """Headless Chromium that runs as root and stays off the network on its own (no background
    networking, updates, sync or field trials), with the flags in `extra` added."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
                 "--disable-features=Translate,OptimizationHints,MediaRouter", "--window-size=1280,900", *extra):
        options.add_argument(flag)
    return options


sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "Tests" / "Python" / "support"))
import courier_protos  # noqa: E402
import courier_stack as stack  # noqa: E402

ADMIN_EMAIL = "admin@courier.test"


class ApiError(AssertionError):
    """A REST call answered with an unexpected status; the message quotes the JSON body."""


class Api:
    """A small REST client for test set-up through nginx, with a bearer token once logged in."""

    def __init__(self, base_url, token=None):
        self.base = base_url
        self.http = requests.Session()
        self.token = token
        self.principal = None

    def call(self, method, path, body=None, expect=200, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.http.request(method, self.base + path, json=body, headers=headers, timeout=30, **kwargs)
        if expect is not None and response.status_code != expect:
            raise ApiError(f"{method} {path} answered {response.status_code}, expected {expect}: {response.text[:500]}")
        return response.json() if response.content and "json" in response.headers.get("content-type", "") else response

    def login(self, email, password):
        answer = self.call("POST", "/auth/login", {"email": email, "password": password})
        self.token = answer["tokens"]["accessToken"]
        self.principal = answer["principal"]
        return self


@pytest.fixture(scope="module")
def courier():
    var = pathlib.Path(tempfile.mkdtemp(prefix="courier-web-"))
    var.chmod(0o755)  # Postgres runs as the postgres user and must reach its folder inside
    admin_password = secrets.token_urlsafe(12)
    running = stack.CourierStack(var, stack.swift_bin_dir(), durable=False, admin_email=ADMIN_EMAIL,
                                 admin_password=admin_password)
    running.admin_password = admin_password
    running.start()
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(var, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(courier):
    return Api(courier.web_url).login(ADMIN_EMAIL, courier.admin_password)


def sign_up(courier, name="Test Person"):
    """Signs a fresh user up through REST; returns (Api logged in, email, password). Asgardian allows
    10 sign-ups per client address in 10 minutes, so a module should make few users and share them."""
    email = f"user-{uuid.uuid4().hex[:10]}@courier.test"
    password = "a long enough password " + secrets.token_hex(4)
    api = Api(courier.web_url)
    api.call("POST", "/auth/signup", {"email": email, "password": password, "displayName": name})
    return api.login(email, password), email, password


@pytest.fixture
def new_user(courier):
    """`sign_up` for one test: `new_user(name)` returns (Api logged in, email, password)."""

    def make(name="Test Person"):
        return sign_up(courier, name)

    return make


@pytest.fixture(scope="module")
def pb():
    return courier_protos.load()


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class World:
    """Set-up through the REST API as an admin would do it from the admin client, so that a browser
    test can concentrate on what the person sees."""

    def __init__(self, courier, admin, new_user):
        self.courier = courier
        self.admin = admin
        self.new_user = new_user
        # Fixes are device time: kept in the recent past and strictly increasing.
        self.clock = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=30)

    def deliverer(self, name="Dana Deliverer"):
        """A user with the deliverer role, registered in Hermes: (deliverer_id, Api logged in as them)."""
        api, email, password = self.new_user(name)
        user_id = api.principal["userId"]
        self.admin.call("PUT", f"/user/admin/users/{user_id}/roles", {"roles": ["ROLE_USER", "ROLE_DELIVERER"]})
        api.login(email, password)  # a token that carries the new role
        registered = self.admin.call("POST", "/tracking/admin/deliverers", {"userId": user_id, "displayName": name})
        return registered["deliverer"]["delivererId"], api

    def payload(self, title, recipient_user_id, deliverer_id=None, picked_up=True):
        """Registers stuff for `recipient_user_id`; with a deliverer, assigns it (and marks it picked
        up, so that fixes move it). Returns the payload as the service answered."""
        payload = self.admin.call("POST", "/tracking/admin/payloads", {
            "title": title, "description": "registered by a test", "recipientUserId": recipient_user_id})["payload"]
        if deliverer_id:
            payload_id = payload["deliveryPayloadId"]
            self.admin.call("PUT", f"/tracking/admin/payloads/{payload_id}/deliverer", {"delivererId": deliverer_id})
            if picked_up:
                self.admin.call("PUT", f"/tracking/admin/payloads/{payload_id}/status",
                                {"status": "DELIVERY_PAYLOAD_STATUS_PICKED_UP", "note": "collected"})
        return payload

    def report(self, deliverer_api, latitude, longitude, seconds_later=5, expect=200):
        """The deliverer's device posts one fix; returns the service's answer."""
        self.clock += datetime.timedelta(seconds=seconds_later)
        return deliverer_api.call("POST", "/tracking/deliverer/location", {"location": {
            "point": {"latitude": latitude, "longitude": longitude}, "accuracyMeters": 5.0,
            "recordedAt": rfc3339(self.clock)}}, expect=expect)


@pytest.fixture
def world(courier, admin, new_user):
    return World(courier, admin, new_user)
