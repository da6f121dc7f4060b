"""A release under load: every service of the running stack is replaced by a new instance
(`CourierStack.release`, what scripts/release.py asks a running scripts/stack.py to do) while
clients keep calling through nginx, and nobody notices.

Load, from a few threads, for the whole release: REST logins and profile reads (Asgardian), the
caller's push subscriptions and the public VAPID key (Iris), the caller's payload subscriptions
(Hermes); gRPC GetAllPayloadSubscriptions and ReportLocation streams of fixes from a deliverer
carrying a payload; and an open SSE stream of the deliverer's positions, which the client opens
again when it ends (the old Hermes ends it when it drains, as a browser's EventSource reconnects).

Then: every request got its expected status, every fix was accepted, every
DeliveryPayloadChangedLocation in the event store was processed by the `hermes` consumer group,
the SSE client saw a fix reported after Hermes was switched, each service was under load while it
was switched and drained, and the old instances exited (code 0) while the new ones serve.

And a build that does not become ready: the release stops with an error that names the service
and quotes the new instance's log, and the old instance keeps serving.
"""

import collections
import datetime
import json
import os
import re
import shutil
import threading
import time
import uuid

import grpc
import pytest
import requests

from courier_web import ARTIFACTS

SETTLE = 3.0  # seconds; the default (30, deploy/k8s's minReadySeconds) would only make the test slow
PACE = 0.05  # seconds between one client's requests: steady load that leaves the two cores some air


class Ledger:
    """Every request of the load: what, when it started and ended, and the failure if any."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []

    def record(self, kind, started, failure=None):
        with self.lock:
            self.entries.append((kind, started, time.monotonic(), failure))

    def call(self, kind, action):
        started = time.monotonic()
        try:
            failure = action()
        except (requests.RequestException, grpc.RpcError, OSError) as error:
            failure = f"{type(error).__name__}: {error}"
        self.record(kind, started, failure)

    def failures(self):
        with self.lock:
            return [(kind, failure) for kind, _, _, failure in self.entries if failure]

    def kinds_during(self, start, end):
        """The kinds of request in flight at some moment between `start` and `end`."""
        with self.lock:
            return {kind for kind, began, ended, _ in self.entries if began <= end and ended >= start}

    def describe(self, origin):
        """Per kind: how many requests, how many failed, when the last one ended (s after `origin`)."""
        with self.lock:
            kinds = sorted({entry[0] for entry in self.entries})
            return ", ".join(
                f"{kind}: {sum(1 for e in self.entries if e[0] == kind)} "
                f"({sum(1 for e in self.entries if e[0] == kind and e[3])} failed, last ended at "
                f"{max(e[2] for e in self.entries if e[0] == kind) - origin:+.1f} s)" for kind in kinds)

    def count(self, kind):
        with self.lock:
            return sum(1 for entry in self.entries if entry[0] == kind)


RESENT = collections.Counter()  # requests resent once after their kept-alive connection closed


def browser_like_session():
    """A requests session that does what browsers and HTTP libraries do with persistent connections
    (RFC 9112, section 9.3.1): a request sent on a kept-alive connection that the server closes
    before any answer is sent again once, on a new connection. nginx's reload closes the idle
    connections of its old workers, so a client can meet this at any moment of a release; a request
    that got any answer is never resent, so a failure the release causes still counts."""
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(total=1, connect=1, read=1, status=0, other=0, redirect=0, allowed_methods=None,
                  raise_on_status=False, respect_retry_after_header=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))

    def note(response, *args, **kwargs):
        if response.raw is not None and getattr(response.raw, "retries", None) and response.raw.retries.history:
            RESENT[f"{response.request.method} {response.request.path_url}"] += 1

    session.hooks["response"].append(note)
    return session


def expect(response, status=200):
    if response.status_code != status:
        return f"{response.request.method} {response.request.path_url} answered {response.status_code}: {response.text[:300]}"
    return None


def rest_asgardian(web, email, password, ledger, stop):
    session = browser_like_session()
    while not stop.is_set():
        token = {}

        def login():
            answer = session.post(f"{web}/auth/login", json={"email": email, "password": password}, timeout=30)
            if answer.status_code == 200:
                token["value"] = answer.json()["tokens"]["accessToken"]
            return expect(answer)

        ledger.call("asgardian login", login)
        for _ in range(5):
            if "value" not in token or stop.is_set():
                break
            ledger.call("asgardian profile", lambda: expect(session.get(
                f"{web}/user/profile", headers={"Authorization": f"Bearer {token['value']}"}, timeout=30)))
            stop.wait(PACE)


def rest_reads(web, token, ledger, stop):
    session = browser_like_session()
    bearer = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        ledger.call("iris vapid key", lambda: expect(session.get(f"{web}/notifications/push/vapid-public-key", timeout=30)))
        ledger.call("iris subscriptions", lambda: expect(session.get(
            f"{web}/notifications/push/subscriptions", headers=bearer, timeout=30)))
        ledger.call("hermes tracking", lambda: expect(session.get(f"{web}/tracking/payload", headers=bearer, timeout=30)))
        stop.wait(PACE)


def grpc_reads(address, token, pb, ledger, stop):
    with grpc.insecure_channel(address) as channel:
        stub = pb.hermes_grpc.TrackingServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        while not stop.is_set():
            ledger.call("hermes grpc subscriptions", lambda: stub.GetAllPayloadSubscriptions(
                pb.hermes.GetAllPayloadSubscriptionsRequest(), metadata=metadata, timeout=30) and None)
            stop.wait(PACE)


class Deliverer:
    """Streams fixes over gRPC, three per ReportLocation call, 2 device seconds and 22 m north apart
    (Hermes believes up to 70 m/s). Device time starts 12 hours back, within the 24 hours
    Hermes accepts, and never reaches the present at this pace."""

    def __init__(self, address, token, pb):
        self.address, self.token, self.pb = address, token, pb
        self.clock = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=12)
        self.latitude = 52.5200
        self.accepted = 0
        self.sent = 0
        self.reported = []  # (monotonic time the call was answered, latitudes it carried)

    def latitudes_after(self, moment):
        return [latitude for answered, latitudes in list(self.reported) if answered > moment for latitude in latitudes]

    def fixes(self, count):
        requests_, latitudes = [], []
        for _ in range(count):
            self.clock += datetime.timedelta(seconds=2)  # Hermes keeps fixes at least 1 s apart
            self.latitude = round(self.latitude + 0.0002, 4)
            latitudes.append(self.latitude)
            request = self.pb.hermes.ReportLocationRequest()
            request.location.point.latitude = self.latitude
            request.location.point.longitude = 13.4050
            request.location.accuracy_meters = 5.0
            request.location.recorded_at.FromDatetime(self.clock.replace(tzinfo=None))
            requests_.append(request)
        return requests_, latitudes

    def run(self, ledger, stop):
        # grpcio's transparent retry (gRFC A6) replays a call that met a GOAWAY before the server saw it.
        # For a client stream that had begun sending, grpcio 1.76 was seen to replay it without its first
        # message: nginx logged 2 of 3 messages arriving on the new connection and Hermes answered
        # accepted_count 2, correctly. A device must not trust that path: retries are off, and a call
        # that fails UNAVAILABLE is sent again once, whole, by the caller (a fix that did arrive
        # the first time would come back rejected as not newer, so a resend cannot hide a loss).
        options = [("grpc.enable_retries", 0)]
        with grpc.insecure_channel(self.address, options=options) as channel:
            stub = self.pb.hermes_grpc.DelivererServiceStub(channel)
            while not stop.is_set():
                self.report(stub, ledger)
                stop.wait(PACE)

    def report(self, stub, ledger, count=3):
        fixes, latitudes = self.fixes(count)

        def send():
            request_id = uuid.uuid4().hex
            metadata = (("authorization", f"Bearer {self.token}"), ("x-request-id", request_id))
            return request_id, stub.ReportLocation(iter(fixes), metadata=metadata, timeout=30)

        def call():
            try:
                request_id, reply = send()
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                RESENT[f"gRPC ReportLocation after UNAVAILABLE: {error.details()}"] += 1
                request_id, reply = send()
            self.sent += count
            self.accepted += reply.accepted_count
            self.reported.append((time.monotonic(), latitudes))
            if (reply.accepted_count, reply.rejected_count) != (count, 0):
                return (f"ReportLocation: {reply.accepted_count} accepted, {reply.rejected_count} rejected "
                        f"(request id {request_id}): {reply}")
            return None

        ledger.call("hermes grpc fixes", call)


class LiveStream:
    """The admin's SSE stream of deliverer positions, opened again whenever it ends."""

    def __init__(self, web, token, deliverer_id):
        self.url = f"{web}/tracking/admin/deliverers/live"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        self.deliverer_id = deliverer_id
        self.lock = threading.Lock()
        self.latitudes = []  # (monotonic time received, latitude)
        self.opened = 0
        self.ended = []  # monotonic times at which a stream ended
        self.problems = []
        self.response = None

    def run(self, stop):
        while not stop.is_set():
            try:
                response = requests.get(self.url, headers=self.headers, stream=True, timeout=(10, 60))
            except requests.RequestException as error:
                self.problems.append(f"opening the stream: {error}")
                continue
            self.response = response
            if response.status_code != 200:
                self.problems.append(f"the stream answered {response.status_code}: {response.text[:300]}")
                response.close()
                continue
            self.opened += 1
            try:
                for line in response.iter_lines(decode_unicode=True):
                    if stop.is_set():
                        break
                    if line and line.startswith("data: "):
                        event = json.loads(line[len("data: "):])
                        if event.get("delivererId") == self.deliverer_id:
                            with self.lock:
                                self.latitudes.append((time.monotonic(), event["location"]["point"]["latitude"]))
            except (requests.RequestException, AttributeError, ValueError):
                pass  # the server ended the stream (a drain): open it again, as EventSource does
            finally:
                self.ended.append(time.monotonic())
                response.close()

    def seen_after(self, moment):
        with self.lock:
            return [latitude for received, latitude in self.latitudes if received > moment]


def unprocessed_location_events(courier, payload_id):
    """Location events of the payload that the `hermes` consumer group has not processed, and how
    many there are in all."""
    rows = courier.pg.psql(
        "SELECT e.id, coalesce(d.status, 'none'), coalesce(e.published_at::text, 'unpublished'), e.seq, e.appended_at "
        "FROM event_source.events e LEFT JOIN event_source.deliveries d "
        "ON d.event_id = e.id AND d.consumer = 'hermes' "
        f"WHERE e.type LIKE '%DeliveryPayloadChangedLocation' AND e.key = '{payload_id}'", database="courier")
    events = [line.split("|") for line in rows.splitlines() if line]
    return [event for event in events if event[1] != "processed"], len(events)


def test_release_of_every_service_under_load_loses_nothing(courier, admin, world, pb):
    user, email, password = world.new_user("Lena Load")
    deliverer_id, device = world.deliverer("Rolf Rollout")
    payload = world.payload("Release parcel", user.principal["userId"], deliverer_id)
    payload_id = payload["deliveryPayloadId"]
    old = {name: service for name, service in courier.services.items()}
    ledger = Ledger()
    stop = threading.Event()
    deliverer = Deliverer(courier.grpc_ingress, device.token, pb)
    live = LiveStream(courier.web_url, admin.token, deliverer_id)
    threads = [
        threading.Thread(target=rest_asgardian, args=(courier.web_url, email, password, ledger, stop)),
        threading.Thread(target=rest_reads, args=(courier.web_url, user.token, ledger, stop)),
        threading.Thread(target=grpc_reads, args=(courier.grpc_ingress, user.token, pb, ledger, stop)),
        threading.Thread(target=deliverer.run, args=(ledger, stop)),
        threading.Thread(target=live.run, args=(stop,)),
    ]
    steps = []  # (monotonic time, line) of the release's progress

    def say(line):
        steps.append((time.monotonic(), line))

    def moment(service, words):
        return next(t for t, line in steps if line.startswith(f"{service}:") and words in line)

    for thread in threads:
        thread.start()
    try:
        # The load runs before the release starts: the SSE stream is open and has seen a fix.
        deadline = time.monotonic() + 60
        while not (live.latitudes and ledger.count("asgardian profile") and ledger.count("hermes grpc fixes")):
            assert time.monotonic() < deadline, f"the load did not get going: {ledger.failures()} {live.problems}"
            stop.wait(0.05)
        released = courier.release(courier.bin_dir, settle=SETTLE, say=say)
        finished = time.monotonic()
        # And after it, on the new instances: fixes keep coming and the SSE client sees them.
        deadline = time.monotonic() + 60
        while not set(deliverer.latitudes_after(finished)) & set(live.seen_after(finished)):
            assert time.monotonic() < deadline, (
                f"no fix reached the SSE stream after the release (opened {live.opened} times; {live.problems}); "
                f"{ledger.describe(finished)}; SSE latitudes {[(round(t - finished, 2), x) for t, x in live.latitudes[-5:]]}; "
                f"fixes {[(round(t - finished, 2), x) for t, x in deliverer.reported[-5:]]}")
            stop.wait(0.05)
    finally:
        stop.set()
        if live.response is not None:
            live.response.close()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a load thread did not finish"

    print(f"\nrelease under load: {ledger.describe(finished)}; SSE opened {live.opened} times; "
          f"resent once after a closed kept-alive connection: {dict(RESENT) or 'none'}")
    print("\n".join(f"{t - steps[0][0]:6.2f} s  {line}" for t, line in steps))
    print(f"SSE streams ended at {[round(t - steps[0][0], 2) for t in live.ended]} s")
    print("".join(line for line in old["hermes"].lines if "shutting down" in line or "deliverers/live" in line))
    failures = ledger.failures()
    if failures:
        # A ReportLocation answered with fewer fixes than it carried is traced through nginx's access log
        # (request_length counts what the client sent) and both Hermes instances' logs; with
        # COURIER_NGINX_LOG_LEVEL=debug the frame-by-frame log is kept in the artifacts folder.
        ids = set(re.findall(r"request id ([0-9a-f]{32})", " ".join(f[1] for f in failures)))
        access = (courier.nginx.directory / "access.log").read_text(errors="replace").splitlines()
        hermes = ([f"old Hermes: {line}" for line in old["hermes"].lines]
                  + [f"new Hermes: {line}" for line in courier.services["hermes"].lines])
        trace = [line.strip() for line in access + hermes
                 if any(i in line for i in ids) or line.startswith("old Hermes") and "shutting down" in line]
        lengths = collections.Counter((entry.get("request_length"), entry.get("upstream"))
                                      for entry in (json.loads(line) for line in access if line.startswith("{"))
                                      if entry.get("path", "").endswith("/ReportLocation"))
        trace.append(f"ReportLocation (request_length, upstream) counts: {dict(lengths)}")
        if ids and os.environ.get("COURIER_NGINX_LOG_LEVEL") == "debug":
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(courier.nginx.log, ARTIFACTS / f"nginx-release-{'-'.join(sorted(ids))}.log")
        raise AssertionError(f"{len(failures)} of {len(ledger.entries)} requests failed during the release: "
                             f"{failures[:10]}; traced: {trace}")
    assert not live.problems, live.problems
    assert deliverer.sent > 0 and deliverer.accepted == deliverer.sent, (deliverer.accepted, deliverer.sent)

    # Each service was under load while nginx switched it and while its old instance drained.
    expected = {"asgardian": {"asgardian login", "asgardian profile"},
                "iris": {"iris vapid key", "iris subscriptions"},
                "hermes": {"hermes tracking", "hermes grpc subscriptions", "hermes grpc fixes"}}
    for name, kinds in expected.items():
        switch, drained = moment(name, "switching nginx"), moment(name, "the old instance exited")
        during = ledger.kinds_during(switch, drained)
        assert kinds <= during, f"{name}: no {kinds - during} requests while it was switched and drained"

    # The SSE client saw fixes reported after Hermes' switch (the old Hermes ended its stream when
    # it drained and the client opened it again, on the new instance).
    hermes_switched = moment("hermes", "switching nginx")
    seen_later = set(deliverer.latitudes_after(hermes_switched)) & set(live.seen_after(hermes_switched))
    assert seen_later, "the SSE client saw no fix reported after Hermes' switch"
    assert live.opened >= 2, f"the SSE stream was opened {live.opened} time(s): the old Hermes should have ended it"

    # Old instances exited cleanly; the new ones are ready, reachable through their stable addresses.
    for step in released:
        name = step["service"]
        assert step["old_exit_code"] == 0, f"{name}: the old instance exited with {step['old_exit_code']}"
        assert old[name].process.returncode == 0 and step["old_pid"] == old[name].pid
        try:
            os.kill(old[name].pid, 0)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError(f"{name}: the old instance (pid {old[name].pid}) still exists")
        new = courier.services[name]
        assert new.pid == step["new_pid"] != old[name].pid
        assert new.running() and new.readiness() is None, f"{name}: the new instance is not ready"
        grpc_port, http_port = courier.addresses[name]
        assert requests.get(f"http://127.0.0.1:{http_port}/readyz", timeout=10).status_code == 200

    # Zero lost events: every location event of the payload is processed by the `hermes` group.
    deadline = time.monotonic() + 60
    while True:
        missing, total = unprocessed_location_events(courier, payload_id)
        if not missing and total:
            break
        if time.monotonic() >= deadline:
            new_hermes = courier.services["hermes"]
            warnings = [f"{name}: {line.strip()}" for name, service in (("old", old["hermes"]), ("new", new_hermes))
                        for line in service.lines if '"level":"info"' not in line and "stream failed" not in line]
            metrics = requests.get(f"http://127.0.0.1:{new_hermes.http_port}/metrics", timeout=10).text
            consumer = [line for line in metrics.splitlines()
                        if line.startswith(("courier_consumer_lag", "courier_events_handled_total", "courier_outbox"))]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for name, service in (("old", old["hermes"]), ("new", new_hermes)):
                (ARTIFACTS / f"release-unprocessed-hermes-{name}.log").write_text("".join(service.lines))
            shutil.copy(courier.broker.log, ARTIFACTS / "release-unprocessed-tansu.log")
            raise AssertionError(f"{len(missing)} of {total} location events not processed by hermes "
                                 f"(id, delivery, published, seq, appended): {missing[:10]}; "
                                 f"Hermes' warnings: {warnings[-20:]}; the new Hermes' consumer metrics: {consumer}")
        time.sleep(0.2)


def test_a_build_that_does_not_become_ready_leaves_the_old_instance_serving(courier, tmp_path):
    """The new Iris cannot reach its database (a wrapper around the real executable points it at a
    port where nothing listens): the release stops with an error naming the service and quoting the
    new instance's log, the new process is gone, and the old instance still serves through nginx."""
    import courier_stack as stack

    build = tmp_path / "bin"
    build.mkdir()
    wrapper = build / "courier"
    wrapper.write_text(f"#!/bin/sh\nIRIS_DATABASE_URL=postgresql://iris@127.0.0.1:{stack.free_port()}/courier "
                       f"exec {courier.bin_dir.resolve() / 'courier'} \"$@\"\n")
    wrapper.chmod(0o755)
    old = courier.services["iris"]
    upstreams = dict(courier.nginx.upstreams)
    logs_before = set(old.directory.glob("iris-*.log"))

    with pytest.raises(stack.ReleaseError) as failed:
        courier.release(build, settle=SETTLE, names=["iris"], ready_timeout=30)
    message = str(failed.value)
    match = re.match(r"iris: the new instance \(pid (\d+)\) did not become ready", message)
    assert match, message
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"the new instance (pid {match.group(1)}) still runs")
    assert f"the old one (pid {old.pid}) keeps serving" in message, message

    assert courier.services["iris"] is old and old.running() and old.readiness() is None
    assert courier.nginx.upstreams == upstreams
    (new_log,) = set(old.directory.glob("iris-*.log")) - logs_before
    assert new_log.name in message  # the error quotes the new instance's log
    answer = requests.get(f"{courier.web_url}/notifications/push/vapid-public-key", timeout=10)
    assert answer.status_code == 200, answer.text
    assert not courier._candidates
