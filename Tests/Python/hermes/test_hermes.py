"""Hermes end to end: the real `courier asgardian`, `courier iris` and `courier hermes` processes
against real servers on loopback, one stack for the module.

- Postgres: a throwaway cluster; Asgardian and Hermes share the database `courier` (and so the
  event store, as in the local stack), Iris has its own.
- Broker: Tansu. Hermes' relay publishes its events; its consumer (group `hermes`) handles them.
- Mail: aiosmtpd (Tests/Python/support/smtp_server.py) behind Iris' SMTP transport.
- Push: Tests/Python/support/push_service.py checks the VAPID JWT and decrypts with `http_ece`.
- Receipts: HERMES_BUCKET=s3 against a `moto_server`; `pdftotext` reads the PDF back.
- Users: signed up and logged in through Asgardian REST; the bootstrap admin gives roles.
- Phones: reports in both forms of the OsmAnd protocol (Tests/Python/support/osmand.py) at
  `/tracking/osmand`; a drive towards a destination checks the falling estimate, "arriving soon"
  once per subscriber (push decrypted at the push service, mail at the SMTP server), "delivered"
  once, and the replayed route, validated as GeoJSON by check-jsonschema against
  Tests/Python/support/schemas/geojson.schema.json (written from RFC 7946).

Waiting is always by polling with a deadline.
"""

import base64
import datetime
import email
import email.policy
import os
import re
import pathlib
import subprocess
import sys
import tempfile
import uuid

import boto3
import grpc
import pytest
import requests

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE.parent / "support"))
import courier_protos  # noqa: E402
import osmand  # noqa: E402
import courier_stack as stack  # noqa: E402
from courier_fixtures import Helper, eventually  # noqa: E402

PYTHON = sys.executable
SUPPORT = HERE.parent / "support"
WAIT = 60.0
ADMIN_EMAIL = "admin@courier.test"
ADMIN_PASSWORD = "correct horse battery staple 42"
PASSWORD = "a long and secret pass phrase"
S3_BUCKET = "courier-receipts"
TRACKING_URL = "https://courier.test/app/tracking"
CHANGED_LOCATION = "%DeliveryPayloadChangedLocation"


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def auth(token):
    return {"Authorization": f"Bearer {token}"} if token else {}


# --------------------------------------------------------------------------- the stack


@pytest.fixture(scope="module")
def pb():
    return courier_protos.load()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hermes")


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
    """Iris' gRPC port, chosen before Asgardian starts so that Asgardian can mail through it."""
    return stack.free_port()


@pytest.fixture(scope="module")
def asgardian(pg, workdir, broker, iris_grpc_port):
    pg.prepare_courier_database("courier", bin_dir=stack.swift_bin_dir())
    service = stack.Service("asgardian", {
        "ASGARDIAN_DATABASE_URL": pg.url(user="asgardian", database="courier"),
        "ASGARDIAN_GRPC_PORT": "0",
        "ASGARDIAN_HTTP_PORT": "0",
        "ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ASGARDIAN_KEY_FILE": str(workdir / "asgardian-signing-key"),
        "ASGARDIAN_SCRYPT_LOG_N": "12",
        "COURIER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "COURIER_IRIS_ADDRESS": f"127.0.0.1:{iris_grpc_port}",
    }, workdir / "asgardian").start()
    yield service
    assert service.stop() == 0, f"asgardian did not stop cleanly{stack.tail(service.log)}"


@pytest.fixture(scope="module")
def push_service(workdir):
    helper = Helper([PYTHON, str(SUPPORT / "push_service.py"), str(workdir / "push")], "push_service", workdir)
    helper.base = f"https://127.0.0.1:{helper.port}"
    helper.ca = helper.extra[0]
    yield helper
    helper.stop()


@pytest.fixture(scope="module")
def smtp(workdir):
    maildir = workdir / "smtp"
    helper = Helper([PYTHON, str(SUPPORT / "smtp_server.py"), str(maildir)], "smtp", workdir)
    helper.maildir = maildir
    yield helper
    helper.stop()


@pytest.fixture(scope="module")
def iris(pg, workdir, asgardian, smtp, push_service, iris_grpc_port):
    pg.prepare_courier_database("iris_db")
    service = stack.Service("iris", {
        "IRIS_DATABASE_URL": pg.url(user="iris", database="iris_db"),
        "IRIS_GRPC_PORT": str(iris_grpc_port),
        "IRIS_HTTP_PORT": "0",
        "IRIS_VAPID_KEY_FILE": str(workdir / "iris-vapid"),
        "IRIS_MAIL_DROP_DIR": str(workdir / "iris-drop"),
        "IRIS_RETRY_BASE_DELAY": "200ms",
        "IRIS_RETRY_POLL_INTERVAL": "100ms",
        "IRIS_MAIL_TRANSPORT": "smtp",
        "IRIS_SMTP_PORT": str(smtp.port),
        "IRIS_SMTP_SECURITY": "none",
        "IRIS_PUSH_CA_FILE": push_service.ca,
        "COURIER_IDENTITY_ADDRESS": asgardian.grpc,
    }, workdir / "iris").start()
    yield service
    assert service.stop() == 0, f"iris did not stop cleanly{stack.tail(service.log)}"


@pytest.fixture(scope="module")
def s3(workdir):
    """A moto S3 server on a free port, with the receipt bucket made through boto3."""
    port = stack.free_port()
    log = workdir / "moto.log"
    process = subprocess.Popen([str(pathlib.Path(PYTHON).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        stack.wait_for(lambda: stack.port_open(port), f"moto_server on 127.0.0.1:{port}", process=process, log=log)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="courier-test-key", aws_secret_access_key="courier-test-secret")
        client.create_bucket(Bucket=S3_BUCKET)
        client.endpoint = f"http://127.0.0.1:{port}"
        yield client
    finally:
        stack.stop_process(process)


@pytest.fixture(scope="module")
def hermes(pg, workdir, broker, asgardian, iris, s3):
    service = stack.Service("hermes", {
        "HERMES_DATABASE_URL": pg.url(user="hermes", database="courier"),
        "HERMES_GRPC_PORT": "0",
        "HERMES_HTTP_PORT": "0",
        "HERMES_MAIL_INTERVAL": "1h",
        "HERMES_ARRIVING_RADIUS_METERS": "300",
        "HERMES_ARRIVING_SOON_WITHIN": "60s",
        # Iris takes only https (or path) links in pushes; the default http://127.0.0.1:8080/... is
        # refused, which dead-letters every ChangedLocation event.
        "HERMES_TRACKING_URL": TRACKING_URL,
        "HERMES_BUCKET": "s3",
        "HERMES_S3_ENDPOINT": s3.endpoint,
        "HERMES_S3_BUCKET": S3_BUCKET,
        "HERMES_S3_REGION": "us-east-1",
        "HERMES_S3_ACCESS_KEY_ID": "courier-test-key",
        "HERMES_S3_SECRET_ACCESS_KEY": "courier-test-secret",
        "COURIER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "COURIER_IRIS_ADDRESS": iris.grpc,
        "COURIER_IDENTITY_ADDRESS": asgardian.grpc,
    }, workdir / "hermes").start()
    yield service
    assert service.stop() == 0, f"hermes did not stop cleanly{stack.tail(service.log)}"


# --------------------------------------------------------------------------- people and payloads


def login(asgardian, address, password):
    response = requests.post(f"{asgardian.http}/auth/login", json={"email": address, "password": password}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["tokens"]["accessToken"]


@pytest.fixture(scope="module")
def admin_token(asgardian):
    return login(asgardian, ADMIN_EMAIL, ADMIN_PASSWORD)


def sign_up(asgardian, name):
    """A new user: (user_id, email, access token)."""
    address = f"{name.lower()}-{uuid.uuid4().hex[:8]}@courier.test"
    response = requests.post(f"{asgardian.http}/auth/signup", json={
        "email": address, "password": PASSWORD, "displayName": name}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["user"]["userId"], address, login(asgardian, address, PASSWORD)


def make_deliverer(asgardian, hermes, admin_token, name):
    """A user given the deliverer role by the admin and registered in Hermes: (deliverer_id, user_id, token)."""
    user_id, address, _ = sign_up(asgardian, name)
    roles = requests.put(f"{asgardian.http}/user/admin/users/{user_id}/roles", headers=auth(admin_token),
                         json={"roles": ["ROLE_USER", "ROLE_DELIVERER"]}, timeout=30)
    assert roles.status_code == 200, roles.text
    token = login(asgardian, address, PASSWORD)  # a token that carries the new role
    registered = requests.post(f"{hermes.http}/tracking/admin/deliverers", headers=auth(admin_token),
                               json={"userId": user_id, "displayName": name}, timeout=30)
    assert registered.status_code == 200, registered.text
    return registered.json()["deliverer"]["delivererId"], user_id, token


def register_payload(hermes, token, title, recipient_user_id):
    return requests.post(f"{hermes.http}/tracking/admin/payloads", headers=auth(token),
                         json={"title": title, "description": "two boxes", "recipientUserId": recipient_user_id},
                         timeout=30)


def fix(latitude, longitude, recorded_at, accuracy=5.0):
    return {"point": {"latitude": latitude, "longitude": longitude}, "accuracyMeters": accuracy,
            "recordedAt": rfc3339(recorded_at)}


def report(hermes, token, location):
    return requests.post(f"{hermes.http}/tracking/deliverer/location", headers=auth(token),
                         json={"location": location}, timeout=30)


def subscriptions(hermes, token):
    response = requests.get(f"{hermes.http}/tracking/payload", headers=auth(token), timeout=30)
    assert response.status_code == 200, response.text
    return {s["payloadTrackingCode"]: s for s in response.json().get("subscriptions", [])}


def position(hermes, token, code):
    """The subscribed payload's last position as (latitude, longitude), or None."""
    point = subscriptions(hermes, token)[code].get("lastLocation", {}).get("point")
    return None if point is None else (point.get("latitude", 0.0), point.get("longitude", 0.0))


def location_events(pg, payload_id):
    """The payload's DeliveryPayloadChangedLocation events as [(id, processed)], oldest first."""
    rows = pg.psql(f"SELECT id, processed FROM event_source.events WHERE type LIKE '{CHANGED_LOCATION}' "
                   f"AND key = '{payload_id}' ORDER BY seq", database="courier")
    return [(line.split("|")[0], line.split("|")[1] == "t") for line in rows.splitlines() if line]


def event_table(pg, hermes):
    """The event store and Hermes' last log lines, for a failure message."""
    rows = pg.psql("SELECT seq, type, key, published_at IS NOT NULL, processed, attempts, last_error "
                   "FROM event_source.events ORDER BY seq", database="courier")
    deliveries = pg.psql("SELECT * FROM event_source.deliveries", database="courier")
    return f"events:\n{rows}\ndeliveries:\n{deliveries}{stack.tail(hermes.log)}"


def received_mail(maildir):
    return sorted(pathlib.Path(maildir).glob("*.eml")) if pathlib.Path(maildir).exists() else []


def mails_mentioning(smtp, text):
    out = []
    for path in received_mail(smtp.maildir):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        if text in (body.get_content() if body is not None else "") or text in str(message["Subject"]):
            out.append(message)
    return out


def received_pushes(push_service, name):
    response = requests.get(f"{push_service.base}/control/received", verify=push_service.ca, timeout=30)
    return [r for r in response.json()["received"] if r["name"] == name]


def iris_deliveries(iris, admin_token):
    response = requests.get(f"{iris.http}/notifications/admin/deliveries", params={"page.page_size": 500},
                            headers=auth(admin_token), timeout=30)
    assert response.status_code == 200, response.text
    return response.json().get("deliveries", [])


class Scenario:
    """A subscriber with a browser push subscription, a deliverer carrying one picked-up payload the
    subscriber follows."""


def subscribe_browser(iris, push_service, token):
    """A browser push subscription at the test push service, registered with Iris for the user of
    `token`; returns the push service's record (name, endpoint, keys)."""
    vapid = requests.get(f"{iris.http}/notifications/push/vapid-public-key", timeout=30).json()["publicKey"]
    created = requests.post(f"{push_service.base}/control/subscriptions", json={"application_server_key": vapid},
                            verify=push_service.ca, timeout=30)
    assert created.status_code == 201, created.text
    push = created.json()
    registered = requests.post(f"{iris.http}/notifications/push/subscriptions", headers=auth(token), json={
        "endpoint": push["endpoint"], "keys": {"p256dh": push["p256dh"], "auth": push["auth"]},
        "userAgent": "pytest"}, timeout=30)
    assert registered.status_code == 200, registered.text
    return push


@pytest.fixture(scope="module")
def scenario(asgardian, iris, hermes, push_service, admin_token):
    s = Scenario()
    s.subscriber_id, s.subscriber_email, s.subscriber_token = sign_up(asgardian, "Grace")
    s.push = subscribe_browser(iris, push_service, s.subscriber_token)

    s.deliverer_id, s.deliverer_user_id, s.deliverer_token = make_deliverer(asgardian, hermes, admin_token, "Dana")
    s.title = f"Books {uuid.uuid4().hex[:6]}"
    payload = register_payload(hermes, admin_token, s.title, s.subscriber_id)
    assert payload.status_code == 200, payload.text
    s.payload_id = payload.json()["payload"]["deliveryPayloadId"]
    s.code = payload.json()["payload"]["trackingCode"]
    assigned = requests.put(f"{hermes.http}/tracking/admin/payloads/{s.payload_id}/deliverer", headers=auth(admin_token),
                            json={"delivererId": s.deliverer_id}, timeout=30)
    assert assigned.status_code == 200, assigned.text
    picked = requests.put(f"{hermes.http}/tracking/admin/payloads/{s.payload_id}/status", headers=auth(admin_token),
                          json={"status": "DELIVERY_PAYLOAD_STATUS_PICKED_UP", "note": "collected"}, timeout=30)
    assert picked.status_code == 200, picked.text
    s.subscription_title = "My books"
    followed = requests.post(f"{hermes.http}/tracking/payload/{s.code}", headers=auth(s.subscriber_token),
                             json={"title": s.subscription_title}, timeout=30)
    assert followed.status_code == 200, followed.text
    # Fixes are device time; keep them in the recent past and strictly increasing.
    s.clock = now() - datetime.timedelta(minutes=10)
    return s


def next_time(s, seconds=5):
    s.clock += datetime.timedelta(seconds=seconds)
    return s.clock


# --------------------------------------------------------------------------- 1. a fix travels


def test_fix_pushes_mails_is_processed_and_shows(pg, hermes, iris, smtp, push_service, admin_token, scenario, pb):
    s = scenario
    assert position(hermes, s.subscriber_token, s.code) is None
    mails_before = len(mails_mentioning(smtp, s.code))

    # REST fix.
    response = report(hermes, s.deliverer_token, fix(52.5200, 13.4050, next_time(s)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("accepted") is True and body.get("movedPayloadCount") == 1, body

    events = eventually(lambda: [e for e in location_events(pg, s.payload_id) if e[1]] or None,
                        "the ChangedLocation event to be processed", detail=lambda: event_table(pg, hermes))
    assert len(location_events(pg, s.payload_id)) == 1
    first_event = events[0][0]

    pushed = eventually(lambda: received_pushes(push_service, s.push["name"]), "the push at the push service")
    assert len(pushed) == 1 and pushed[0]["status"] == 201, pushed
    assert s.code in pushed[0]["plaintext"] and s.subscription_title in pushed[0]["plaintext"], pushed[0]["plaintext"]

    mails = eventually(lambda: mails_mentioning(smtp, s.code)[mails_before:], "the payload-update mail")
    assert len(mails) == 1
    assert s.subscriber_email in mails[0]["To"]
    assert s.subscription_title in mails[0].get_body(preferencelist=("plain",)).get_content()

    assert position(hermes, s.subscriber_token, s.code) == pytest.approx((52.5200, 13.4050))
    first = [d for d in iris_deliveries(iris, admin_token) if d["idempotencyKey"] == f"{first_event}:{s.subscriber_id}"]
    assert sorted(d["channel"] for d in first) == ["NOTIFICATION_CHANNEL_MAIL", "NOTIFICATION_CHANNEL_PUSH"], first

    # A second fix, 5 s later and 100 m on: pushes, does not mail (HERMES_MAIL_INTERVAL=1h).
    response = report(hermes, s.deliverer_token, fix(52.5209, 13.4050, next_time(s)))
    assert response.status_code == 200 and response.json().get("movedPayloadCount") == 1, response.text

    eventually(lambda: len(location_events(pg, s.payload_id)) == 2 and all(p for _, p in location_events(pg, s.payload_id)),
               "the second ChangedLocation event to be processed")
    second_event = location_events(pg, s.payload_id)[1][0]
    pushed = eventually(lambda: len(received_pushes(push_service, s.push["name"])) >= 2
                        and received_pushes(push_service, s.push["name"]), "the second push")
    assert len(pushed) == 2 and pushed[1]["status"] == 201 and s.code in pushed[1]["plaintext"]
    assert position(hermes, s.subscriber_token, s.code) == pytest.approx((52.5209, 13.4050))
    # The event is processed, so any mail for it has been handed to Iris (which sends before it
    # answers): Iris logged no mail for it, and the SMTP server got nothing more.
    second = [d for d in iris_deliveries(iris, admin_token) if d["idempotencyKey"] == f"{second_event}:{s.subscriber_id}"]
    assert len(second) == 1, f"Iris deliveries for the second event: {second}"
    assert second[0]["channel"] == "NOTIFICATION_CHANNEL_PUSH", second
    assert len(mails_mentioning(smtp, s.code)) == mails_before + 1, "a second mail inside the throttle interval"


def stream_fixes(hermes, pb, token, *locations):
    with grpc.insecure_channel(hermes.grpc) as channel:
        return pb.hermes_grpc.DelivererServiceStub(channel).ReportLocation(
            iter([pb.hermes.ReportLocationRequest(location=location) for location in locations]),
            metadata=(("authorization", f"Bearer {token}"),), timeout=30)


def grpc_fix(pb, latitude, longitude, recorded_at, accuracy=5.0):
    location = pb.common.Location(accuracy_meters=accuracy)
    location.point.latitude, location.point.longitude = latitude, longitude
    location.recorded_at.FromDatetime(recorded_at.astimezone(datetime.timezone.utc).replace(tzinfo=None))
    return location


def test_fix_over_the_grpc_stream_moves_the_payload_and_pushes(pg, hermes, push_service, scenario, pb):
    s = scenario
    pushes = len(received_pushes(push_service, s.push["name"]))
    events = len(location_events(pg, s.payload_id))
    base = position(hermes, s.subscriber_token, s.code) or (52.52, 13.405)
    target = (round(base[0] + 0.0005, 6), base[1])
    reply = stream_fixes(hermes, pb, s.deliverer_token, grpc_fix(pb, *target, next_time(s)))
    assert (reply.accepted_count, reply.rejected_count) == (1, 0), reply
    eventually(lambda: len(location_events(pg, s.payload_id)) == events + 1
               and all(p for _, p in location_events(pg, s.payload_id)), "the streamed fix's event to be processed",
               detail=lambda: event_table(pg, hermes))
    pushed = eventually(lambda: len(received_pushes(push_service, s.push["name"])) > pushes
                        and received_pushes(push_service, s.push["name"]), "the push for the streamed fix")
    assert pushed[-1]["status"] == 201 and s.code in pushed[-1]["plaintext"]
    assert position(hermes, s.subscriber_token, s.code) == pytest.approx(target)


# --------------------------------------------------------------------------- 2. receipts in S3


def pdf_text(data, workdir):
    path = workdir / f"receipt-{uuid.uuid4().hex}.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True)
    assert result.returncode == 0, f"pdftotext failed: {result.stderr}"
    return result.stdout


def test_registration_puts_a_pdf_receipt_in_s3(hermes, s3, scenario, workdir, pg):
    s = scenario
    key = f"receipts/receipt-{s.code}.pdf"

    def stored():
        listed = s3.list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])
        return [o for o in listed if s.code in o["Key"]]

    objects = eventually(stored, "the receipt object in the S3 bucket")
    assert [o["Key"] for o in objects] == [key]
    data = s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    assert data.startswith(b"%PDF-")
    text = pdf_text(data, workdir)
    assert s.code in text and s.title in text, text

    # The recipient fetches the same document through REST.
    response = requests.get(f"{hermes.http}/tracking/payload/{s.code}/receipt", headers=auth(s.subscriber_token),
                            timeout=30)
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["content"]) == data


# --------------------------------------------------------------------------- 3. authorization


def payload_count(hermes, admin_token):
    response = requests.get(f"{hermes.http}/tracking/admin/payloads", headers=auth(admin_token), timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json().get("pageInfo", {}).get("totalSize", 0))


def deliverer_count(hermes, admin_token):
    response = requests.get(f"{hermes.http}/tracking/admin/deliverers", headers=auth(admin_token), timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json().get("pageInfo", {}).get("totalSize", 0))


def test_only_admins_register_stuff_and_deliverers(asgardian, hermes, admin_token, scenario):
    s = scenario
    payloads, deliverers = payload_count(hermes, admin_token), deliverer_count(hermes, admin_token)
    candidate_id, address, _ = sign_up(asgardian, "Eve")
    requests.put(f"{asgardian.http}/user/admin/users/{candidate_id}/roles", headers=auth(admin_token),
                 json={"roles": ["ROLE_USER", "ROLE_DELIVERER"]}, timeout=30).raise_for_status()
    for token, status in ((s.subscriber_token, 403), (s.deliverer_token, 403), (None, 401), ("garbage", 401)):
        response = register_payload(hermes, token, "Not allowed", s.subscriber_id)
        assert response.status_code == status, (token, response.text)
        response = requests.post(f"{hermes.http}/tracking/admin/deliverers", headers=auth(token),
                                 json={"userId": candidate_id, "displayName": "Eve"}, timeout=30)
        assert response.status_code == status, (token, response.text)
    assert (payload_count(hermes, admin_token), deliverer_count(hermes, admin_token)) == (payloads, deliverers)


def test_only_the_assigned_deliverer_moves_the_payload(pg, asgardian, hermes, admin_token, scenario):
    s = scenario
    before = position(hermes, s.subscriber_token, s.code)
    events_before = location_events(pg, s.payload_id)
    _, _, other_token = make_deliverer(asgardian, hermes, admin_token, "Mallory")
    response = report(hermes, other_token, fix(48.8566, 2.3522, now() - datetime.timedelta(seconds=5)))
    assert response.status_code == 200, response.text
    # Accepted as Mallory's own position, but it moves nothing of Dana's payload.
    assert response.json().get("accepted") is True, response.json()
    assert response.json().get("movedPayloadCount", 0) == 0, response.json()
    # A plain user is no deliverer at all.
    response = report(hermes, s.subscriber_token, fix(48.8566, 2.3522, now()))
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert report(hermes, None, fix(48.8566, 2.3522, now())).status_code == 401
    assert location_events(pg, s.payload_id) == events_before
    assert position(hermes, s.subscriber_token, s.code) == before


def test_users_see_only_their_own_subscriptions(asgardian, hermes, scenario):
    s = scenario
    _, _, stranger = sign_up(asgardian, "Frank")
    assert s.code in subscriptions(hermes, s.subscriber_token)
    assert subscriptions(hermes, stranger) == {}
    assert requests.get(f"{hermes.http}/tracking/payload", timeout=30).status_code == 401
    # Following it makes it the stranger's own, under the stranger's title; Grace's is unchanged.
    followed = requests.post(f"{hermes.http}/tracking/payload/{s.code}", headers=auth(stranger),
                             json={"title": "Frank's view"}, timeout=30)
    assert followed.status_code == 200, followed.text
    assert subscriptions(hermes, stranger)[s.code]["title"] == "Frank's view"
    assert subscriptions(hermes, s.subscriber_token)[s.code]["title"] == s.subscription_title


# --------------------------------------------------------------------------- 4. bad input


BAD_FIXES = [
    ("latitude 91", lambda t: fix(91.0, 13.4, t), "LOCATION_REJECTION_REASON_OUT_OF_RANGE"),
    ("longitude -181", lambda t: fix(52.5, -181.0, t), "LOCATION_REJECTION_REASON_OUT_OF_RANGE"),
    ("from the future", lambda t: fix(52.5210, 13.4050, now() + datetime.timedelta(minutes=5)),
     "LOCATION_REJECTION_REASON_IN_FUTURE"),
    ("no point", lambda t: {"accuracyMeters": 5.0, "recordedAt": rfc3339(t)}, "LOCATION_REJECTION_REASON_MISSING_POINT"),
    ("negative accuracy", lambda t: fix(52.5210, 13.4050, t, accuracy=-1.0), "LOCATION_REJECTION_REASON_INVALID_MEASUREMENT"),
]


@pytest.mark.parametrize("case,make,reason", BAD_FIXES, ids=[c[0] for c in BAD_FIXES])
def test_malformed_fixes_are_rejected_and_change_nothing(pg, hermes, scenario, case, make, reason):
    # The contract (hermes.proto, ReportLocationFix): "a rejected fix is an answer (`accepted` false
    # and the reason), not an error".
    s = scenario
    before = position(hermes, s.subscriber_token, s.code)
    events_before = location_events(pg, s.payload_id)
    response = report(hermes, s.deliverer_token, make(s.clock + datetime.timedelta(seconds=5)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("accepted", False) is False and body.get("rejectionReason") == reason, body
    assert body.get("movedPayloadCount", 0) == 0
    assert location_events(pg, s.payload_id) == events_before
    assert position(hermes, s.subscriber_token, s.code) == before


UNREADABLE_FIXES = [
    ("latitude not a number", {"point": {"latitude": "north", "longitude": 13.4}, "recordedAt": "2026-01-01T00:00:00Z"}),
    ("timestamp not RFC 3339", {"point": {"latitude": 52.5, "longitude": 13.4}, "recordedAt": "yesterday"}),
]


@pytest.mark.parametrize("case,location", UNREADABLE_FIXES, ids=[c[0] for c in UNREADABLE_FIXES])
def test_unreadable_fix_is_400_naming_the_field(pg, hermes, scenario, case, location):
    s = scenario
    events_before = location_events(pg, s.payload_id)
    response = requests.post(f"{hermes.http}/tracking/deliverer/location", headers=auth(s.deliverer_token),
                             json={"location": location}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_ARGUMENT"
    # The gateway names the request's field (`location`), not the nested one.
    assert "location" in response.json()["message"], response.json()
    assert location_events(pg, s.payload_id) == events_before


def test_fix_stream_counts_rejections(pg, hermes, scenario, pb):
    s = scenario
    events_before = location_events(pg, s.payload_id)
    reply = stream_fixes(hermes, pb, s.deliverer_token,
                         grpc_fix(pb, 91.0, 13.4, s.clock + datetime.timedelta(seconds=5)),
                         grpc_fix(pb, 52.5210, 13.4050, now() + datetime.timedelta(minutes=5)))
    assert (reply.accepted_count, reply.rejected_count) == (0, 2)
    assert [(r.index, r.reason) for r in reply.rejections] == [
        (0, pb.hermes.LOCATION_REJECTION_REASON_OUT_OF_RANGE), (1, pb.hermes.LOCATION_REJECTION_REASON_IN_FUTURE)]
    assert location_events(pg, s.payload_id) == events_before


def test_subscription_bad_input(hermes, scenario):
    s = scenario
    headers = auth(s.subscriber_token)
    unknown = requests.post(f"{hermes.http}/tracking/payload/0000000000AA", headers=headers, json={"title": "x"},
                            timeout=30)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["code"] == "NOT_FOUND"
    malformed = requests.post(f"{hermes.http}/tracking/payload/not-a-code!", headers=headers, json={"title": "x"},
                              timeout=30)
    assert malformed.status_code == 400, malformed.text
    assert "payload_tracking_code" in malformed.json()["message"]
    long_title = requests.post(f"{hermes.http}/tracking/payload/{s.code}", headers=headers, json={"title": "t" * 101},
                               timeout=30)
    assert long_title.status_code == 400 and "title" in long_title.json()["message"], long_title.text
    # Subscribing again to the same payload only renames the subscription (hermes.proto).
    again = requests.post(f"{hermes.http}/tracking/payload/{s.code}", headers=headers, json={"title": "Renamed"},
                          timeout=30)
    assert again.status_code == 200, again.text
    listed = subscriptions(hermes, s.subscriber_token)
    assert list(listed).count(s.code) == 1 and listed[s.code]["title"] == "Renamed"
    requests.post(f"{hermes.http}/tracking/payload/{s.code}", headers=headers, json={"title": s.subscription_title},
                  timeout=30).raise_for_status()


# --------------------------------------------------------------------------- 5. phones, arrival, route

GEOJSON_SCHEMA = SUPPORT / "schemas" / "geojson.schema.json"
CHECK_JSONSCHEMA = pathlib.Path(PYTHON).parent / "check-jsonschema"
DESTINATION = (52.5300, 13.4000)
STEP_DEGREES = 0.0018  # about 200 m of latitude


def register_phone(hermes, admin_token, deliverer_id, label="Rita's phone"):
    response = requests.post(f"{hermes.http}/tracking/admin/deliverers/{deliverer_id}/devices", headers=auth(admin_token),
                             json={"label": label}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def send_osmand(hermes, form, body):
    """One report: `get` (query), `form` (POST form body) or `json` (POST JSON)."""
    url = f"{hermes.http}/tracking/osmand"
    if form == "get":
        return requests.get(url, params=body, timeout=30)
    if form == "form":
        return requests.post(url, data=body, timeout=30)
    return requests.post(url, json=body, timeout=30)


def deliverer_position(hermes, admin_token, deliverer_id):
    response = requests.get(f"{hermes.http}/tracking/admin/deliverers", params={"page.page_size": 500},
                            headers=auth(admin_token), timeout=30)
    assert response.status_code == 200, response.text
    found = [d for d in response.json()["deliverers"] if d["delivererId"] == deliverer_id]
    point = found[0].get("lastLocation", {}).get("point")
    return None if point is None else (point.get("latitude", 0.0), point.get("longitude", 0.0))


class Trip:
    """A deliverer with a registered phone, carrying a payload with a destination that two
    subscribers (each with a browser push subscription) follow."""


@pytest.fixture(scope="module")
def trip(asgardian, iris, hermes, push_service, admin_token):
    t = Trip()
    t.deliverer_id, _, _ = make_deliverer(asgardian, hermes, admin_token, "Rita")
    t.phone = register_phone(hermes, admin_token, t.deliverer_id)
    t.device = t.phone["deviceIdentifier"]
    t.subscribers = []
    for name in ("Ada", "Bo"):
        user_id, address, token = sign_up(asgardian, name)
        t.subscribers.append({"id": user_id, "email": address, "token": token, "title": f"Parcel for {name}",
                              "push": subscribe_browser(iris, push_service, token)})
    registered = requests.post(f"{hermes.http}/tracking/admin/payloads", headers=auth(admin_token), json={
        "title": "Lamp", "description": "fragile", "recipientUserId": t.subscribers[0]["id"],
        "destination": {"latitude": DESTINATION[0], "longitude": DESTINATION[1]}}, timeout=30)
    assert registered.status_code == 200, registered.text
    payload = registered.json()["payload"]
    assert payload["destination"] == {"latitude": DESTINATION[0], "longitude": DESTINATION[1]}
    t.payload_id, t.code = payload["deliveryPayloadId"], payload["trackingCode"]
    for path, body in ((f"/tracking/admin/payloads/{t.payload_id}/deliverer", {"delivererId": t.deliverer_id}),
                       (f"/tracking/admin/payloads/{t.payload_id}/status", {"status": "DELIVERY_PAYLOAD_STATUS_PICKED_UP"})):
        response = requests.put(f"{hermes.http}{path}", headers=auth(admin_token), json=body, timeout=30)
        assert response.status_code == 200, response.text
    for subscriber in t.subscribers:
        followed = requests.post(f"{hermes.http}/tracking/payload/{t.code}", headers=auth(subscriber["token"]),
                                 json={"title": subscriber["title"]}, timeout=30)
        assert followed.status_code == 200, followed.text
    t.clock = now().replace(microsecond=0) - datetime.timedelta(minutes=20)
    return t


def test_admin_registers_a_phone_and_sees_it_listed(hermes, admin_token, trip):
    phone = trip.phone
    assert len(trip.device) == 32 and phone["serverUrl"].endswith("/tracking/osmand"), phone
    listed = requests.get(f"{hermes.http}/tracking/admin/deliverers/{trip.deliverer_id}/devices",
                          headers=auth(admin_token), timeout=30)
    assert listed.status_code == 200, listed.text
    devices = listed.json()["devices"]
    assert [d["deviceId"] for d in devices] == [phone["device"]["deviceId"]]
    assert devices[0]["identifierHint"] == trip.device[:4] and "revokedAt" not in devices[0]
    # The identifier is shown once: no list carries it.
    assert trip.device not in listed.text
    assert listed.json()["serverUrl"] == phone["serverUrl"]
    bad = requests.post(f"{hermes.http}/tracking/admin/deliverers/{trip.deliverer_id}/devices", headers=auth(admin_token),
                        json={"label": ""}, timeout=30)
    assert bad.status_code == 400 and "label" in bad.json()["message"], bad.text
    unknown = requests.post(f"{hermes.http}/tracking/admin/deliverers/{uuid.uuid4()}/devices", headers=auth(admin_token),
                            json={"label": "x"}, timeout=30)
    assert unknown.status_code == 404, unknown.text


OSMAND_MALFORMED = [
    ("missing id", "get", lambda d, t: {k: v for k, v in osmand.query(d, 52.5, 13.4, t).items() if k != "id"}, "id"),
    ("latitude out of range", "get", lambda d, t: osmand.query(d, 91.5, 13.4, t), "lat"),
    ("longitude out of range", "form", lambda d, t: osmand.query(d, 52.5, 181.0, t), "lon"),
    ("bad timestamp", "get", lambda d, t: {**osmand.query(d, 52.5, 13.4, t), "timestamp": "yesterday"}, "timestamp"),
    ("JSON without device_id", "json", lambda d, t: {k: v for k, v in osmand.json_body(d, 52.5, 13.4, t).items() if k != "device_id"},
     "device_id"),
    ("JSON latitude out of range", "json", lambda d, t: osmand.json_body(d, -95.0, 13.4, t), "lat"),
    ("JSON bad timestamp", "json",
     lambda d, t: {**osmand.json_body(d, 52.5, 13.4, t), "location": {**osmand.json_body(d, 52.5, 13.4, t)["location"], "timestamp": "soon"}},
     "location.timestamp"),
]


@pytest.mark.parametrize("case,form,make,field", OSMAND_MALFORMED, ids=[c[0] for c in OSMAND_MALFORMED])
def test_malformed_phone_reports_are_400_and_change_nothing(pg, hermes, admin_token, trip, case, form, make, field):
    events_before = location_events(pg, trip.payload_id)
    position_before = deliverer_position(hermes, admin_token, trip.deliverer_id)
    response = send_osmand(hermes, form, make(trip.device, trip.clock + datetime.timedelta(seconds=5)))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "INVALID_ARGUMENT" and f"'{field}'" in body["message"], body
    assert body["details"][0]["fieldViolations"][0]["field"] == field, body
    assert location_events(pg, trip.payload_id) == events_before
    assert deliverer_position(hermes, admin_token, trip.deliverer_id) == position_before


def test_unknown_and_revoked_phones_get_the_same_refusal(pg, hermes, admin_token, trip):
    spare = register_phone(hermes, admin_token, trip.deliverer_id, "spare phone")
    revoked = requests.delete(f"{hermes.http}/tracking/admin/devices/{spare['device']['deviceId']}",
                              headers=auth(admin_token), timeout=30)
    assert revoked.status_code == 200 and "revokedAt" in revoked.json()["device"], revoked.text
    again = requests.delete(f"{hermes.http}/tracking/admin/devices/{spare['device']['deviceId']}",
                            headers=auth(admin_token), timeout=30)
    assert again.json()["device"]["revokedAt"] == revoked.json()["device"]["revokedAt"]
    events_before = location_events(pg, trip.payload_id)
    moment = trip.clock + datetime.timedelta(seconds=5)
    answers = []
    for device in (spare["deviceIdentifier"], "0" * 32, "not-even-the-right-shape"):
        for form, body in (("get", osmand.query(device, 52.5, 13.4, moment)),
                           ("json", osmand.json_body(device, 52.5, 13.4, moment))):
            response = send_osmand(hermes, form, body)
            answers.append((response.status_code, response.json()))
    assert answers[0][0] == 403 and answers[0][1]["code"] == "PERMISSION_DENIED", answers[0]
    assert all(answer == answers[0] for answer in answers), answers
    assert location_events(pg, trip.payload_id) == events_before
    listed = requests.get(f"{hermes.http}/tracking/admin/deliverers/{trip.deliverer_id}/devices",
                          headers=auth(admin_token), timeout=30).json()["devices"]
    assert [("revokedAt" in d) for d in listed] == [True, False]  # newest first: the spare, then the phone


def arriving_mails(smtp, subscriber):
    return [m for m in mails_mentioning(smtp, "arriving soon") if subscriber["email"] in m["To"]]


def test_drive_to_the_destination(pg, hermes, iris, smtp, push_service, admin_token, trip, tmp_path):
    t = trip
    start = DESTINATION[0] - 15 * STEP_DEGREES  # 3 km south, then north at 10 m/s: 200 m every 20 s
    sent, remaining = [], []
    forms = ("get", "json", "form")
    for step in range(18):  # the last 2 fixes wait at the door
        latitude = start + min(step, 15) * STEP_DEGREES
        t.clock += datetime.timedelta(seconds=20)
        speed = 10.0 if step < 15 else 0.0
        form = forms[step % 3]
        body = osmand.json_body(t.device, latitude, DESTINATION[1], t.clock, speed) if form == "json" \
            else osmand.query(t.device, latitude, DESTINATION[1], t.clock, speed)
        response = send_osmand(hermes, form, body)
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": True, "movedPayloadCount": 1}, response.text
        sent.append((latitude, DESTINATION[1], t.clock))
        eventually(lambda: len(location_events(pg, t.payload_id)) == len(sent)
                   and all(p for _, p in location_events(pg, t.payload_id)),
                   f"fix {step} to be processed", detail=lambda: event_table(pg, hermes))
        estimate = subscriptions(hermes, t.subscribers[0]["token"])[t.code].get("arrivalEstimate")
        if step <= 15:
            assert estimate is not None, f"no estimate after fix {step}"
            remaining.append(estimate.get("remainingSeconds", 0.0))  # proto3 JSON leaves out zeros
            assert estimate.get("remainingDistanceMeters", 0.0) == pytest.approx(
                (15 - step) * STEP_DEGREES * 111_195, rel=0.01, abs=1)
        # The admin map follows the phone.
        assert deliverer_position(hermes, admin_token, t.deliverer_id) == pytest.approx((latitude, DESTINATION[1]))
    # The estimate falls with every fix of the drive, to the door.
    assert all(a > b for a, b in zip(remaining, remaining[1:])), remaining
    assert remaining[0] == pytest.approx(300, rel=0.02) and remaining[-1] == pytest.approx(0, abs=0.5)

    # "Arriving soon": once per subscriber, by push and by mail, though many fixes qualified.
    for subscriber in t.subscribers:
        key = f"arriving:{t.payload_id}:{subscriber['id']}"
        deliveries = eventually(lambda: [d for d in iris_deliveries(iris, admin_token) if d["idempotencyKey"] == key]
                                if len([d for d in iris_deliveries(iris, admin_token) if d["idempotencyKey"] == key]) == 2
                                else None, f"Iris to take both arriving notices for {subscriber['title']}")
        assert sorted(d["channel"] for d in deliveries) == ["NOTIFICATION_CHANNEL_MAIL", "NOTIFICATION_CHANNEL_PUSH"]
        pushes = eventually(lambda: [p for p in received_pushes(push_service, subscriber["push"]["name"])
                                     if "arriving soon" in p["plaintext"]], "the arriving-soon push")
        assert len(pushes) == 1 and subscriber["title"] in pushes[0]["plaintext"], pushes
        mails = eventually(lambda: arriving_mails(smtp, subscriber), "the arriving-soon mail")
        assert len(mails) == 1 and str(mails[0]["Subject"]) == f"{subscriber['title']}: arriving soon", mails[0]["Subject"]
        text = mails[0].get_body(preferencelist=("plain",)).get_content()
        assert re.search(r"is about to arrive: in (about \d+ minutes?|under a minute), \d+ m away", text), text
    rows = pg.psql(f"SELECT count(*) FROM hermes.once_notices WHERE payload_id = '{t.payload_id}' AND kind = 'arriving'",
                   database="courier")
    assert rows.strip() == "2"

    # Delivered: each subscriber is told once, and the estimate is gone.
    for _ in range(2):  # the second time changes nothing and tells nobody again
        delivered = requests.put(f"{hermes.http}/tracking/admin/payloads/{t.payload_id}/status", headers=auth(admin_token),
                                 json={"status": "DELIVERY_PAYLOAD_STATUS_DELIVERED"}, timeout=30)
        assert delivered.status_code == 200, delivered.text
        assert "arrivalEstimate" not in delivered.json()["payload"]
    for subscriber in t.subscribers:
        pushes = eventually(lambda: [p for p in received_pushes(push_service, subscriber["push"]["name"])
                                     if "was delivered" in p["plaintext"]], "the delivered push")
        mails = eventually(lambda: [m for m in mails_mentioning(smtp, "delivered") if subscriber["email"] in m["To"]
                                    and str(m["Subject"]).endswith(": delivered")], "the delivered mail")
        assert len(pushes) == 1 and len(mails) == 1
    assert "arrivalEstimate" not in subscriptions(hermes, t.subscribers[0]["token"])[t.code]

    # The replayed route is the fixes, in order, with their times, as GeoJSON.
    response = requests.get(f"{hermes.http}/tracking/payload/{t.code}/route", headers=auth(t.subscribers[1]["token"]),
                            timeout=30)
    assert response.status_code == 200, response.text
    feature = response.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"] == [[pytest.approx(lon), pytest.approx(lat)] for lat, lon, _ in sent]
    times = [datetime.datetime.fromisoformat(x) for x in feature["properties"]["coordTimes"]]
    assert times == [moment for _, _, moment in sent]
    assert feature["properties"]["fixCount"] == len(sent) and feature["properties"]["trackingCode"] == t.code
    path = tmp_path / "route.geojson"
    path.write_text(response.text)
    checked = subprocess.run([str(CHECK_JSONSCHEMA), "--schemafile", str(GEOJSON_SCHEMA), str(path)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Simplified, the straight drive keeps its two ends, with their times.
    simplified = requests.get(f"{hermes.http}/tracking/payload/{t.code}/route", params={"tolerance_meters": 5},
                              headers=auth(admin_token), timeout=30)
    assert simplified.status_code == 200, simplified.text
    assert simplified.json()["geometry"]["coordinates"] == [
        [pytest.approx(DESTINATION[1]), pytest.approx(start)], [pytest.approx(DESTINATION[1]), pytest.approx(DESTINATION[0])]]
    assert [datetime.datetime.fromisoformat(x) for x in simplified.json()["properties"]["coordTimes"]] == [sent[0][2], sent[-1][2]]
    assert simplified.json()["properties"]["toleranceMeters"] == 5


def test_route_is_for_the_recipient_subscribers_and_admins(asgardian, hermes, admin_token, trip, scenario):
    _, _, stranger = sign_up(asgardian, "Eve")
    forbidden = requests.get(f"{hermes.http}/tracking/payload/{trip.code}/route", headers=auth(stranger), timeout=30)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "PERMISSION_DENIED", forbidden.text
    assert requests.get(f"{hermes.http}/tracking/payload/{trip.code}/route", timeout=30).status_code == 401
    unknown = requests.get(f"{hermes.http}/tracking/payload/0000000000AA/route", headers=auth(admin_token), timeout=30)
    assert unknown.status_code == 404, unknown.text
    negative = requests.get(f"{hermes.http}/tracking/payload/{trip.code}/route", params={"tolerance_meters": -1},
                            headers=auth(admin_token), timeout=30)
    assert negative.status_code == 400 and "tolerance_meters" in negative.json()["message"], negative.text
    # A payload that has not moved has no route yet.
    fresh = register_payload(hermes, admin_token, "Unmoved", scenario.subscriber_id).json()["payload"]
    empty = requests.get(f"{hermes.http}/tracking/payload/{fresh['trackingCode']}/route", headers=auth(admin_token),
                         timeout=30)
    assert empty.status_code == 400 and empty.json()["code"] == "FAILED_PRECONDITION", empty.text


def test_destination_bad_input(hermes, admin_token, scenario):
    path = f"{hermes.http}/tracking/admin/payloads/{scenario.payload_id}/destination"
    for point, field in (({"latitude": 95, "longitude": 1}, "destination.latitude"),
                         ({"latitude": 1, "longitude": -200}, "destination.longitude")):
        response = requests.put(path, headers=auth(admin_token), json={"destination": point}, timeout=30)
        assert response.status_code == 400 and field in response.json()["message"], response.text
    set_ = requests.put(path, headers=auth(admin_token), json={"destination": {"latitude": 52.51, "longitude": 13.39}},
                        timeout=30)
    assert set_.status_code == 200 and set_.json()["payload"]["destination"] == {"latitude": 52.51, "longitude": 13.39}
    cleared = requests.put(path, headers=auth(admin_token), json={}, timeout=30)
    assert cleared.status_code == 200 and "destination" not in cleared.json()["payload"], cleared.text
