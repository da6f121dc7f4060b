"""The client examples in examples/, run as a person would run them, against the real stack (the
same CourierStack as run.sh, on free ports): Python (`examples/python`, classes from generate.sh)
and C (`examples/c`, built with its Makefile).

- Python, straight to each service and through nginx: GetUserData (straight to Asgardian: nginx
  refuses the internal IdentityService with PERMISSION_DENIED) returns the signed-up user; a
  Hermes follow, the subscription list and a WatchPayloadPositions stream that sees a reported fix;
  an admin's WatchDelivererPositions; the Kafka consumer prints the DeliveryPayloadChangedLocation
  event of that fix, decoded from its envelope.
- C, straight to Asgardian: prints the user (through nginx: PERMISSION_DENIED, exit 7); an unknown id is NOT_FOUND with a
  non-zero exit; a closed port or an unresolvable name is a connection error; a percent-encoded
  grpc-message (from a grpcio server here) is decoded.
- Bad input to both: missing or malformed arguments, a wrong password, a bad token, an unknown topic,
  an unreachable broker; each gets a message that says what is wrong and its documented exit code.

Everything generated or built goes into pytest's temporary folders, never into the checkout.
"""

import concurrent.futures
import json
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time
import types
import uuid

import grpc
import pytest
from courier_web import World, sign_up

ROOT = pathlib.Path(__file__).resolve().parents[3]
PY_EXAMPLE = ROOT / "examples" / "python"
C_EXAMPLE = ROOT / "examples" / "c"
CHANGED_LOCATION_TOPIC = "courier.delivery-payload-changed-location.v1"
WAIT = 60.0

# Exit codes the examples document.
PY_GRPC, PY_USAGE, PY_REST, PY_KAFKA = 1, 2, 3, 4
C_USAGE, C_NO_CONNECTION, C_PROTOCOL = 64, 69, 76
PERMISSION_DENIED, NOT_FOUND, UNIMPLEMENTED, UNAUTHENTICATED = 7, 5, 12, 16


# --------------------------------------------------------------------------- building the examples


@pytest.fixture(scope="module")
def python_gen(tmp_path_factory):
    """examples/python/generate.sh, run into a temporary folder."""
    out = tmp_path_factory.mktemp("python-gen")
    result = subprocess.run(["bash", str(PY_EXAMPLE / "generate.sh"), str(out)], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert result.returncode == 0, f"generate.sh failed:\n{result.stdout}{result.stderr}"
    assert (out / "courier" / "asgardian" / "v1" / "asgardian_pb2_grpc.py").is_file()
    assert (out / "courier" / "events" / "v1" / "events_pb2.py").is_file()
    return out


@pytest.fixture(scope="module")
def c_client(tmp_path_factory):
    """examples/c built with its Makefile into a temporary folder."""
    build = tmp_path_factory.mktemp("c-build")
    result = subprocess.run(["make", "-C", str(C_EXAMPLE), f"BUILD={build}"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"make failed:\n{result.stdout}{result.stderr}"
    binary = build / "get_user_data"
    assert os.access(binary, os.X_OK), f"make succeeded but left no {binary}"
    return binary


def python_client(gen, *args, env=None, timeout=WAIT):
    return subprocess.run([sys.executable, str(PY_EXAMPLE / "courier_client.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "COURIER_GEN_DIR": str(gen), **(env or {})})


def c_call(binary, *args, env=None, timeout=WAIT):
    environment = {key: value for key, value in os.environ.items() if key != "COURIER_TOKEN"}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          env={**environment, **(env or {})})


def json_lines(result):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def text_fields(stdout):
    """`name: value` lines of the C client as a dict."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


class Running:
    """A streaming command of the Python client: its stdout lines, parsed, arrive on a queue."""

    def __init__(self, gen, *args, env=None):
        self.process = subprocess.Popen(
            [sys.executable, str(PY_EXAMPLE / "courier_client.py"), *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "COURIER_GEN_DIR": str(gen), **(env or {})})
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            if line.strip():
                self.lines.put(json.loads(line))

    def next(self, what, timeout=WAIT):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            pytest.fail(f"{what}: nothing within {timeout:.0f} s; stderr: {self.process.stderr.read()}")

    def finish(self, timeout=WAIT):
        """Waits for the exit; returns (exit code, stderr)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the client did not exit within {timeout:.0f} s")
        self.reader.join(timeout=10)
        return code, self.process.stderr.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def running():
    started = []

    def start(*args, **kwargs):
        process = Running(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def grpc_address(courier, route, service):
    return courier.grpc_ingress if route == "nginx" else courier.services[service].grpc


def user_id_of(api):
    return api.principal["userId"]


@pytest.fixture(scope="module")
def cast(courier, admin):
    """The people every test shares (Asgardian allows 10 sign-ups per address in 10 minutes): a
    plain user, and a deliverer carrying a payload (status PICKED_UP) for a recipient."""
    world = World(courier, admin, lambda name="Test Person": sign_up(courier, name))
    person, email, password = sign_up(courier, "Pia Person")
    deliverer_id, device = world.deliverer("Walt Wheels")
    recipient, recipient_email, recipient_password = sign_up(courier, "Rae Recipient")
    payload = world.payload("Teapot", user_id_of(recipient), deliverer_id)
    latitudes = iter(52.5 + step * 0.001 for step in range(1000))  # each fix a new, plausible position
    return types.SimpleNamespace(
        world=world, person=person, email=email, password=password, deliverer_id=deliverer_id, device=device,
        recipient=recipient, recipient_email=recipient_email, recipient_password=recipient_password,
        payload=payload, report=lambda: _report(world, device, next(latitudes)))


def _report(world, device, latitude):
    answer = world.report(device, latitude, 13.405)
    assert answer["accepted"], answer
    return latitude


# --------------------------------------------------------------------------- Python: gRPC and REST


def test_python_get_user_data_is_refused_through_nginx(courier, cast, python_gen):
    # IdentityService is internal: the ingress answers PERMISSION_DENIED, with or without a token.
    for token in ([], ["--token", cast.person.token]):
        refused = python_client(python_gen, "user", "--grpc", courier.grpc_ingress, *token, user_id_of(cast.person))
        assert refused.returncode == PY_GRPC, refused.stderr
        assert "PERMISSION_DENIED" in refused.stderr and "internal service" in refused.stderr, refused.stderr
        assert refused.stdout == ""


def test_python_get_user_data(courier, cast, python_gen):
    user, email = cast.person, cast.email
    address = grpc_address(courier, "direct", "asgardian")
    [answer] = json_lines(python_client(python_gen, "user", "--grpc", address, user_id_of(user)))
    assert answer["userId"] == user_id_of(user)
    assert answer["email"] == email
    assert answer["displayName"] == "Pia Person"
    assert answer["roles"] == ["ROLE_USER"]
    assert answer["notificationPreferences"] == {"trackingMailEnabled": True, "trackingPushEnabled": True}

    # A token is optional here, but one that is sent is checked.
    [again] = json_lines(python_client(python_gen, "user", "--grpc", address, "--token", user.token, user_id_of(user)))
    assert again["userId"] == user_id_of(user)
    bad = python_client(python_gen, "user", "--grpc", address, "--token", "not-a-token", user_id_of(user))
    assert bad.returncode == PY_GRPC
    assert "IdentityService/GetUserData" in bad.stderr and "UNAUTHENTICATED" in bad.stderr, bad.stderr

    unknown = str(uuid.uuid4())
    missing = python_client(python_gen, "user", "--grpc", address, unknown)
    assert missing.returncode == PY_GRPC
    assert f"NOT_FOUND: no user has the id {unknown}" in missing.stderr, missing.stderr
    malformed = python_client(python_gen, "user", "--grpc", address, "not-a-uuid")
    assert malformed.returncode == PY_GRPC
    assert "INVALID_ARGUMENT" in malformed.stderr and "user_id" in malformed.stderr, malformed.stderr
    assert missing.stdout == malformed.stdout == ""


def test_python_login_through_rest(courier, cast, python_gen):
    user, email, password = cast.person, cast.email, cast.password
    [answer] = json_lines(python_client(python_gen, "login", "--web", courier.web_url, "--email", email,
                                        env={"COURIER_PASSWORD": password}))
    assert answer["principal"]["userId"] == user_id_of(user)
    assert answer["principal"]["roles"] == ["ROLE_USER"]
    assert answer["accessToken"]

    wrong = python_client(python_gen, "login", "--web", courier.web_url, "--email", email, "--password", "wrong password")
    assert wrong.returncode == PY_REST
    assert "POST /auth/login answered HTTP 401 UNAUTHENTICATED:" in wrong.stderr, wrong.stderr
    assert wrong.stdout == ""
    empty = python_client(python_gen, "login", "--web", courier.web_url, "--email", email, "--password", "")
    assert empty.returncode == PY_USAGE and "needs --email and --password" in empty.stderr, empty.stderr


@pytest.mark.parametrize("route", ["direct", "nginx"])
def test_python_follow_and_watch_payload_sees_a_fix(courier, cast, python_gen, running, route):
    code = cast.payload["trackingCode"]
    hermes = grpc_address(courier, route, "hermes")
    login = ["--web", courier.web_url, "--grpc", hermes, "--email", cast.recipient_email]
    secret = {"COURIER_PASSWORD": cast.recipient_password}

    [followed] = json_lines(python_client(python_gen, "follow", *login, code, "--title", f"Teapot via {route}",
                                          env=secret))
    assert followed["payloadTrackingCode"] == code and followed["title"] == f"Teapot via {route}"
    [listed] = json_lines(python_client(python_gen, "subscriptions", *login, env=secret))
    assert (listed["payloadTrackingCode"], listed["title"]) == (code, f"Teapot via {route}")

    watch = running(python_gen, "watch-payloads", *login, "--tracking-code", code, "--count", "2", env=secret)
    first = watch.next("the stream's first message (the payload's current state)")
    assert first["payloadTrackingCode"] == code
    assert first["payloadStatus"] == "DELIVERY_PAYLOAD_STATUS_PICKED_UP"
    latitude = cast.report()
    moved = watch.next("the reported fix on WatchPayloadPositions")
    assert moved["payloadTrackingCode"] == code
    assert moved["location"]["point"] == {"latitude": latitude, "longitude": 13.405}
    exit_code, stderr = watch.finish()
    assert exit_code == 0, stderr

    # A code of the wrong shape is the server's INVALID_ARGUMENT, shown as it is.
    bad = python_client(python_gen, "follow", *login, "NOPE", env=secret)
    assert bad.returncode == PY_GRPC
    assert "CreatePayloadSubscription" in bad.stderr and "INVALID_ARGUMENT" in bad.stderr, bad.stderr


@pytest.mark.parametrize("route", ["direct", "nginx"])
def test_python_watch_deliverers_as_admin(courier, cast, admin, python_gen, running, route):
    last = cast.report()  # the stream opens with the deliverer's last known position
    hermes = grpc_address(courier, route, "hermes")
    watch = running(python_gen, "watch-deliverers", "--grpc", hermes, "--token", admin.token,
                    "--deliverer-id", cast.deliverer_id, "--count", "2")
    first = watch.next("the deliverer's last known position")
    assert first["delivererId"] == cast.deliverer_id and first["displayName"] == "Walt Wheels"
    assert first["location"]["point"]["latitude"] == last
    latitude = cast.report()
    second = watch.next("the new fix on WatchDelivererPositions")
    assert second["location"]["point"] == {"latitude": latitude, "longitude": 13.405}
    assert watch.finish()[0] == 0

    # A person without the admin role is refused by Hermes.
    refused = python_client(python_gen, "watch-deliverers", "--grpc", hermes, "--token", cast.recipient.token,
                            "--count", "1")
    assert refused.returncode == PY_GRPC
    assert "WatchDelivererPositions" in refused.stderr and "PERMISSION_DENIED" in refused.stderr, refused.stderr


def test_python_events_decode_the_fix(courier, cast, python_gen):
    # A payload of its own, so that the first event under its key is the fix reported here.
    payload = cast.world.payload("Kettle", user_id_of(cast.recipient), cast.deliverer_id)
    payload_id = payload["deliveryPayloadId"]
    latitude = cast.report()

    [record] = json_lines(python_client(
        python_gen, "events", "--bootstrap", courier.broker.bootstrap, "--topic", CHANGED_LOCATION_TOPIC,
        "--key", payload_id, "--from-beginning", "--count", "1", "--watch-timeout", str(WAIT), timeout=WAIT + 30))
    assert record["topic"] == CHANGED_LOCATION_TOPIC
    assert record["recordKey"] == payload_id
    envelope = record["envelope"]
    assert envelope["eventType"] == "courier.events.v1.DeliveryPayloadChangedLocation"
    assert envelope["key"] == payload_id and envelope["producer"] == "hermes"
    uuid.UUID(envelope["eventId"])
    event = record["event"]
    assert event["deliveryPayloadId"] == payload_id
    assert event["userId"] == user_id_of(cast.recipient)
    assert event["delivererId"] == cast.deliverer_id
    assert event["location"]["point"] == {"latitude": latitude, "longitude": 13.405}


def test_python_bad_input(courier, python_gen, tmp_path):
    cases = [
        (["user"], PY_USAGE, "the following arguments are required: user_id"),
        (["user", "--grpc", "no-port", "x"], PY_USAGE, "'no-port' is not host:port"),
        (["login", "--web", "ftp://x", "--email", "a@b.c", "--password", "p"], PY_USAGE, "is not an http(s) URL"),
        (["watch-payloads", "--count", "0"], PY_USAGE, "'0' is not a whole number of at least 1"),
        (["events", "--topic", "courier.nope.v1"], PY_USAGE, "unknown topic 'courier.nope.v1'; Courier's topics are:"),
        (["events", "--bootstrap", f"127.0.0.1:{closed_port()}", "--count", "1", "--watch-timeout", "30"],
         PY_KAFKA, "brokers are down"),
        (["user", "--grpc", f"127.0.0.1:{closed_port()}", str(uuid.uuid4())], PY_GRPC, "UNAVAILABLE"),
        (["login", "--web", f"http://127.0.0.1:{closed_port()}", "--email", "a@b.c", "--password", "p"],
         PY_REST, "Connection refused"),
        (["subscriptions", "--web", courier.web_url, "--grpc", courier.grpc_ingress, "--token", "forged"],
         PY_GRPC, "GetAllPayloadSubscriptions at"),
    ]
    for args, code, message in cases:
        result = python_client(python_gen, *args)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)

    # Without generated classes the client says how to make them.
    result = python_client(tmp_path / "nothing-here", "user", str(uuid.uuid4()))
    assert result.returncode == PY_USAGE and "run examples/python/generate.sh" in result.stderr, result.stderr
    # generate.sh with an interpreter that cannot import grpc_tools says so.
    result = subprocess.run(["bash", str(PY_EXAMPLE / "generate.sh"), str(tmp_path / "gen")], capture_output=True,
                            text=True, env={**os.environ, "PYTHON": "false"}, timeout=60)
    assert result.returncode != 0 and "cannot import grpc_tools" in result.stderr, result.stderr


def closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


# --------------------------------------------------------------------------- C


def test_c_get_user_data_is_refused_through_nginx(courier, cast, c_client):
    refused = c_call(c_client, courier.grpc_ingress, user_id_of(cast.person))
    assert refused.returncode == PERMISSION_DENIED, refused.stderr
    assert "gRPC status 7 PERMISSION_DENIED: internal service" in refused.stderr, refused.stderr
    assert refused.stdout == ""


def test_c_get_user_data(courier, cast, c_client):
    user, email = cast.person, cast.email
    address = grpc_address(courier, "direct", "asgardian")
    result = c_call(c_client, address, user_id_of(user))
    assert result.returncode == 0, result.stderr
    fields = text_fields(result.stdout)
    assert fields["user_id"] == user_id_of(user)
    assert fields["email"] == email
    assert fields["display_name"] == "Pia Person"
    assert fields["roles"] == "ROLE_USER"
    assert fields["phone_number"] == "(none)"
    assert (fields["disabled"], fields["deleted"]) == ("false", "false")
    assert fields["created_at"].startswith("20") and fields["created_at"].endswith("Z")
    assert fields["last_login_at"] != "(never)"  # signing up logs in

    with_token = c_call(c_client, "-a", user.token, address, user_id_of(user))
    assert with_token.returncode == 0 and text_fields(with_token.stdout)["email"] == email, with_token.stderr
    bad_token = c_call(c_client, address, user_id_of(user), env={"COURIER_TOKEN": "forged"})
    assert bad_token.returncode == UNAUTHENTICATED, bad_token.stderr
    assert "gRPC status 16 UNAUTHENTICATED: the access token is invalid or expired" in bad_token.stderr

    unknown = str(uuid.uuid4())
    missing = c_call(c_client, address, unknown)
    assert missing.returncode == NOT_FOUND, missing.stderr
    assert f"gRPC status 5 NOT_FOUND: no user has the id {unknown}" in missing.stderr
    assert missing.stdout == ""
    malformed = c_call(c_client, address, "not-a-uuid")
    assert malformed.returncode == 3 and "INVALID_ARGUMENT" in malformed.stderr, malformed.stderr


def test_c_connection_errors_and_wrong_ports(courier, c_client):
    some_id = str(uuid.uuid4())
    port = closed_port()
    refused = c_call(c_client, f"127.0.0.1:{port}", some_id)
    assert refused.returncode == C_NO_CONNECTION
    assert f"cannot connect to 127.0.0.1:{port}: Connection refused" in refused.stderr, refused.stderr
    unresolvable = c_call(c_client, "no-such-host.invalid:8090", some_id)
    assert unresolvable.returncode == C_NO_CONNECTION
    assert "cannot resolve 'no-such-host.invalid'" in unresolvable.stderr, unresolvable.stderr

    # Hermes' gRPC port serves other services: UNIMPLEMENTED, from the server.
    hermes = c_call(c_client, courier.services["hermes"].grpc, some_id)
    assert hermes.returncode == UNIMPLEMENTED, hermes.stderr
    # nginx's HTTP/1.1 port does not speak h2c: a clear failure, not a hang or a crash.
    http1 = c_call(c_client, courier.web_url.removeprefix("http://"), some_id)
    assert http1.returncode == C_PROTOCOL, (http1.returncode, http1.stderr)
    assert "did not answer in HTTP/2" in http1.stderr, http1.stderr


def test_c_bad_command_line(c_client):
    cases = [
        ([], "expected HOST:PORT and USER_ID, got 0 arguments"),
        (["127.0.0.1:8090"], "expected HOST:PORT and USER_ID, got 1 argument"),
        (["127.0.0.1", "x"], "'127.0.0.1' is not HOST:PORT"),
        (["127.0.0.1:0", "x"], "the port must be a number from 1 to 65535"),
        (["127.0.0.1:http", "x"], "the port must be a number from 1 to 65535"),
        (["::1:8090", "x"], "write an IPv6 address in brackets"),
        (["-t", "0", "127.0.0.1:8090", "x"], "-t wants milliseconds from 1 to 99999999, not '0'"),
        (["-t", "soon", "127.0.0.1:8090", "x"], "not 'soon'"),
        (["-a", "", "127.0.0.1:8090", "x"], "the access token is empty"),
    ]
    for args, message in cases:
        result = c_call(c_client, *args)
        assert result.returncode == C_USAGE, (args, result.returncode, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_c_deadline_and_percent_encoded_message(c_client, python_gen):
    """Against a grpcio server (the reference implementation) that the test controls: the status and
    a grpc-message that had to be percent-encoded, and a deadline that runs out."""
    sys.path.insert(0, str(python_gen))
    from courier.asgardian.v1 import asgardian_pb2_grpc

    release = threading.Event()
    message = "kein Benutzer: 100 % sicher \u2713"

    class Identity(asgardian_pb2_grpc.IdentityServiceServicer):
        def GetUserData(self, request, context):
            if request.user_id == "slow":
                release.wait(30)
            context.abort(grpc.StatusCode.NOT_FOUND, message)

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
    asgardian_pb2_grpc.add_IdentityServiceServicer_to_server(Identity(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        result = c_call(c_client, f"127.0.0.1:{port}", "someone")
        assert result.returncode == NOT_FOUND, result.stderr
        assert f"gRPC status 5 NOT_FOUND: {message}" in result.stderr, result.stderr

        started = time.monotonic()
        slow = c_call(c_client, "-t", "300", f"127.0.0.1:{port}", "slow")
        assert slow.returncode == 4, slow.stderr  # DEADLINE_EXCEEDED
        assert "DEADLINE_EXCEEDED" in slow.stderr, slow.stderr
        assert time.monotonic() - started < 10
    finally:
        release.set()
        server.stop(grace=None)
