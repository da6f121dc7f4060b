"""Iris end to end: the real `courier iris` process against real servers on loopback.

- Postgres: a throwaway cluster (one database per Iris, so that one Iris' retry worker never
  touches another's rows).
- Mail: aiosmtpd (Tests/Python/support/smtp_server.py); Python's `email` package reads what
  arrived.
- Push: Tests/Python/support/push_service.py plays the browser's push service over HTTPS: it checks
  the VAPID JWT and decrypts each message with `http_ece` using the subscription's private key.
- Tokens: the real `courier asgardian` (sign-up and login over REST); Iris checks them through
  Asgardian's `IsAuthenticated`.

Each bad input is checked for its status and message, and for leaving nothing stored.
"""

import email
import email.policy
import json
import queue
import subprocess
import threading
import uuid

import grpc
import pytest
import requests
from courier_fixtures import PYTHON, SUPPORT, Helper, eventually, received_mail, stack, start_iris, start_smtp


@pytest.fixture(scope="module")
def push_service(workdir):
    helper = Helper([PYTHON, str(SUPPORT / "push_service.py"), str(workdir / "push")], "push_service", workdir)
    helper.base = f"https://127.0.0.1:{helper.port}"
    helper.ca = helper.extra[0]
    yield helper
    helper.stop()


@pytest.fixture(scope="module")
def iris(pg, workdir, asgardian, smtp, push_service, iris_grpc_port):
    service = start_iris(pg, workdir, asgardian, "main", IRIS_GRPC_PORT=str(iris_grpc_port),
                         IRIS_MAIL_TRANSPORT="smtp", IRIS_SMTP_PORT=str(smtp.port),
                         IRIS_SMTP_SECURITY="none", IRIS_PUSH_CA_FILE=push_service.ca)
    yield service
    assert service.stop() == 0, f"iris did not stop cleanly on SIGTERM{stack.tail(service.log)}"


@pytest.fixture(scope="module")
def notifications(iris, pb):
    channel = grpc.insecure_channel(iris.grpc)
    yield pb.iris_grpc.NotificationServiceStub(channel)
    channel.close()


def mail_request(pb, key=None, address="grace@example.org", **source):
    request = pb.iris.SendMailRequest(idempotency_key=key or f"test:{uuid.uuid4()}",
                                      recipient=pb.iris.MailAddress(address=address, name="Grace Hopper"))
    if "template" in source:
        name, variables = source["template"]
        request.template.name = name
        for variable_name, value in variables.items():
            request.template.variables.add(name=variable_name, value=value)
    if "content" in source:
        subject, text, html = source["content"]
        request.content.subject, request.content.text, request.content.html = subject, text, html
    return request


def deliveries(iris, admin_token, **params):
    response = requests.get(f"{iris.http}/notifications/admin/deliveries", params=params,
                            headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json().get("deliveries", [])


# --------------------------------------------------------------------------- mail


def test_template_mail_arrives_multipart_with_headers(iris, notifications, pb, smtp):
    before = set(received_mail(smtp.maildir))
    reply = notifications.SendMail(mail_request(pb, template=("welcome", {"display_name": "Grace <b>Hopper</b>"})))
    assert reply.status == pb.iris.DELIVERY_STATUS_SENT and not reply.duplicate
    new = eventually(lambda: set(received_mail(smtp.maildir)) - before, "the welcome mail at the SMTP server")
    assert len(new) == 1
    message = email.message_from_bytes(new.pop().read_bytes(), policy=email.policy.default)
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        assert message[header], f"header {header} missing"
    assert "grace@example.org" in message["To"] and "Grace Hopper" in message["To"]
    assert message["X-Courier-Delivery-Id"] == reply.delivery_id
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Grace <b>Hopper</b>" in text
    assert "Grace &lt;b&gt;Hopper&lt;/b&gt;" in html and "<b>Hopper</b>" not in html


def test_content_mail_text_only(notifications, pb, smtp):
    before = set(received_mail(smtp.maildir))
    reply = notifications.SendMail(mail_request(pb, content=("Größe: ✓ passt", "Hallo Welt\nZeile zwei", "")))
    assert reply.status == pb.iris.DELIVERY_STATUS_SENT
    new = eventually(lambda: set(received_mail(smtp.maildir)) - before, "the mail")
    message = email.message_from_bytes(new.pop().read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Größe: ✓ passt"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == "Hallo Welt\nZeile zwei"


def test_same_idempotency_key_sends_once(notifications, pb, smtp):
    key = f"event-{uuid.uuid4()}:user-1"
    before = set(received_mail(smtp.maildir))
    first = notifications.SendMail(mail_request(pb, key=key, content=("Once", "only once", "")))
    second = notifications.SendMail(mail_request(pb, key=key, content=("Twice?", "a different body", "")))
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.delivery_id == first.delivery_id and second.status == first.status
    eventually(lambda: set(received_mail(smtp.maildir)) - before, "the mail")
    # A third send after the mail arrived still sends nothing.
    third = notifications.SendMail(mail_request(pb, key=key, content=("Thrice?", "x", "")))
    assert third.duplicate and third.delivery_id == first.delivery_id
    new = set(received_mail(smtp.maildir)) - before
    assert len(new) == 1, f"{len(new)} mails for one idempotency key"


BAD_MAIL = [
    ("no key", dict(key=""), "idempotency_key is required"),
    ("long key", dict(key="k" * 201), "idempotency_key has 201 characters"),
    ("no at", dict(address="grace.example.org"), "recipient"),
    ("no dot in domain", dict(address="grace@localhost"), "recipient"),
    ("two ats", dict(address="a@b@example.org"), "recipient"),
    ("empty subject", dict(content=("", "text", "")), "content.subject is required"),
    ("two-line subject", dict(content=("a\r\nBcc: x@example.org", "text", "")), "content.subject must be one line"),
    ("empty text", dict(content=("Subject", "", "")), "content.text is required"),
    ("oversized body", dict(content=("Subject", "x" * (300 * 1024), "")), "the most is 262144"),
    ("unknown template", dict(template=("no-such-template", {})), "template"),
    ("missing variable", dict(template=("password-recover", {"display_name": "Ada"})), "reset_url"),
    ("no source", dict(), "set either template or content"),
]


@pytest.mark.parametrize("case,fields,message", BAD_MAIL, ids=[c[0] for c in BAD_MAIL])
def test_bad_mail_requests_are_refused_and_not_stored(notifications, pb, iris, admin_token, case, fields, message):
    fields = dict(fields)
    key = fields.pop("key", f"bad:{uuid.uuid4()}")
    request = mail_request(pb, key=key or None, **fields)
    if key == "":
        request.idempotency_key = ""
    with pytest.raises(grpc.RpcError) as failure:
        notifications.SendMail(request)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    assert message in failure.value.details()
    assert not [d for d in deliveries(iris, admin_token, **{"page.page_size": 500}) if d["idempotencyKey"] == key]


def test_message_over_the_transport_limit_is_resource_exhausted(notifications, pb):
    with pytest.raises(grpc.RpcError) as failure:
        notifications.SendMail(mail_request(pb, content=("Big", "x" * (5 * 1024 * 1024), "")))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_failing_smtp_then_working_sends_once_after_retry(pg, workdir, asgardian, pb, admin_token):
    flaky = start_smtp(workdir, "smtp-flaky", "--fail-first", "1")
    service = start_iris(pg, workdir, asgardian, "flaky", IRIS_MAIL_TRANSPORT="smtp", IRIS_SMTP_PORT=str(flaky.port),
                         IRIS_SMTP_SECURITY="none")
    try:
        with grpc.insecure_channel(service.grpc) as channel:
            stub = pb.iris_grpc.NotificationServiceStub(channel)
            reply = stub.SendMail(mail_request(pb, content=("Retry me", "after a 451", "")))
        assert reply.status == pb.iris.DELIVERY_STATUS_RETRYING
        eventually(lambda: received_mail(flaky.maildir), "the mail after the retry")
        delivery = eventually(
            lambda: next((d for d in deliveries(service, admin_token) if d["deliveryId"] == reply.delivery_id
                          and d["status"] == "DELIVERY_STATUS_SENT"), None), "the delivery to become SENT")
        assert delivery["attemptCount"] == 2
        assert len(received_mail(flaky.maildir)) == 1
    finally:
        service.stop()
        flaky.stop()


def test_starttls_and_auth(pg, workdir, asgardian, pb):
    cert, key = workdir / "smtp-cert.pem", workdir / "smtp-key.pem"
    subprocess.run([PYTHON, str(SUPPORT / "smtp_server.py"), "--gen-cert", str(cert), str(key)], check=True)
    secure = start_smtp(workdir, "smtp-secure", "--starttls", str(cert), str(key), "--require-starttls",
                        "--auth", "courier:s3cret")
    service = start_iris(pg, workdir, asgardian, "secure", IRIS_MAIL_TRANSPORT="smtp", IRIS_SMTP_PORT=str(secure.port),
                         IRIS_SMTP_SECURITY="starttls", IRIS_SMTP_USERNAME="courier", IRIS_SMTP_PASSWORD="s3cret",
                         IRIS_SMTP_CA_FILE=str(cert))
    try:
        with grpc.insecure_channel(service.grpc) as channel:
            reply = pb.iris_grpc.NotificationServiceStub(channel).SendMail(mail_request(pb, content=("Secure", "hi", "")))
        assert reply.status == pb.iris.DELIVERY_STATUS_SENT
        stored = eventually(lambda: received_mail(secure.maildir), "the mail over STARTTLS")
        envelope = json.loads(stored[0].with_suffix(".json").read_text())
        assert envelope["tls"] and envelope["auth_login"] == "courier"
        assert "s3cret" not in service.log.read_text(), "the SMTP password appeared in the logs"
    finally:
        service.stop()
        secure.stop()


# --------------------------------------------------------------------------- push


def new_subscription(push_service, iris, **body):
    response = requests.post(f"{push_service.base}/control/subscriptions", json=body, verify=push_service.ca, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def register(iris, token, subscription, **extra):
    body = {"endpoint": subscription["endpoint"], "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]},
            "userAgent": "pytest", **extra}
    return requests.post(f"{iris.http}/notifications/push/subscriptions", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)


def only_subscription(push_service, iris, token):
    """Removes the user's browser subscriptions, then registers one new one (with Iris' VAPID key)."""
    vapid = requests.get(f"{iris.http}/notifications/push/vapid-public-key", timeout=30).json()["publicKey"]
    listed = requests.get(f"{iris.http}/notifications/push/subscriptions",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json().get("subscriptions", [])
    for old in listed:
        requests.delete(f"{iris.http}/notifications/push/subscriptions/{old['subscriptionId']}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=30).raise_for_status()
    subscription = new_subscription(push_service, iris, application_server_key=vapid)
    assert register(iris, token, subscription).status_code == 200
    return subscription


def received_pushes(push_service, name):
    response = requests.get(f"{push_service.base}/control/received", verify=push_service.ca, timeout=30)
    return [r for r in response.json()["received"] if r["name"] == name]


def push_request(pb, user_id, **fields):
    return pb.iris.SendPushNotificationRequest(idempotency_key=f"push:{uuid.uuid4()}", user_id=user_id,
                                               title=fields.pop("title", "Your parcel moved"), **fields)


def test_push_is_encrypted_vapid_signed_and_live(iris, pb, push_service, user_token):
    token, user_id = user_token
    vapid = requests.get(f"{iris.http}/notifications/push/vapid-public-key", timeout=30).json()["publicKey"]
    subscription = new_subscription(push_service, iris, application_server_key=vapid)
    registered = register(iris, token, subscription)
    assert registered.status_code == 200, registered.text
    subscription_id = registered.json()["subscription"]["subscriptionId"]
    # Registering the same endpoint again keeps its id.
    assert register(iris, token, subscription).json()["subscription"]["subscriptionId"] == subscription_id

    # Open the live stream (SSE through the gateway) and read it on a thread.
    stream = requests.get(f"{iris.http}/notifications/live", headers={"Authorization": f"Bearer {token}"},
                          stream=True, timeout=30)
    assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    live = queue.Queue()

    def read():
        try:
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    live.put(json.loads(line[5:])["notification"])
        except (requests.RequestException, AttributeError, ValueError):
            pass

    threading.Thread(target=read, daemon=True).start()

    # The stream may open on the server a moment after its headers arrive: send until the live
    # stream shows one of the notifications (each send is a real push, checked below).
    sent = {}
    with grpc.insecure_channel(iris.grpc) as channel:
        stub = pb.iris_grpc.NotificationServiceStub(channel)
        for _ in range(20):
            reply = stub.SendPushNotification(push_request(
                pb, user_id, title="Parcel 7K3M is near", body="Dana is 2 km away ✓", url="/app/track/7K3M",
                tag="payload:7K3M", urgency=pb.iris.PUSH_URGENCY_HIGH))
            assert reply.status == pb.iris.DELIVERY_STATUS_SENT
            assert (reply.pushed_subscription_count, reply.subscription_count) == (1, 1)
            sent[reply.delivery_id] = reply
            try:
                notification = live.get(timeout=3)
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("no notification arrived on the live stream")
    stream.close()
    assert notification["notificationId"] in sent and notification["title"] == "Parcel 7K3M is near"
    assert notification["urgency"] == "PUSH_URGENCY_HIGH"

    pushed = eventually(lambda: len(received_pushes(push_service, subscription["name"])) >= len(sent) and
                        received_pushes(push_service, subscription["name"]), "the pushes at the push service")
    assert all(p["status"] == 201 for p in pushed), [p["error"] for p in pushed]
    message = json.loads(pushed[0]["plaintext"])
    assert message["notificationId"] in sent
    assert {k: v for k, v in message.items() if k != "notificationId"} == {
        "title": "Parcel 7K3M is near", "body": "Dana is 2 km away ✓", "url": "/app/track/7K3M", "tag": "payload:7K3M"}
    headers = {k.lower(): v for k, v in pushed[0]["headers"].items()}
    assert headers["urgency"] == "high" and headers["ttl"] == "86400" and len(headers["topic"]) <= 32


def test_gone_subscription_is_removed(iris, pb, push_service, user_token):
    token, user_id = user_token
    vapid = requests.get(f"{iris.http}/notifications/push/vapid-public-key", timeout=30).json()["publicKey"]
    subscription = new_subscription(push_service, iris, application_server_key=vapid)
    assert register(iris, token, subscription).status_code == 200
    requests.post(f"{push_service.base}/control/behaviour", json={"name": subscription["name"], "mode": "gone"},
                  verify=push_service.ca, timeout=30).raise_for_status()
    with grpc.insecure_channel(iris.grpc) as channel:
        pb.iris_grpc.NotificationServiceStub(channel).SendPushNotification(push_request(pb, user_id))
    listed = requests.get(f"{iris.http}/notifications/push/subscriptions",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json().get("subscriptions", [])
    assert subscription["endpoint"] not in [s["endpoint"] for s in listed]


def test_push_service_errors_are_retried_then_sent(iris, pb, push_service, user_token, admin_token):
    token, user_id = user_token
    # A user whose only subscription answers 500 twice, then 201.
    subscription = only_subscription(push_service, iris, token)
    requests.post(f"{push_service.base}/control/behaviour",
                  json={"name": subscription["name"], "mode": "fail", "count": 2, "status": 503},
                  verify=push_service.ca, timeout=30).raise_for_status()
    with grpc.insecure_channel(iris.grpc) as channel:
        reply = pb.iris_grpc.NotificationServiceStub(channel).SendPushNotification(push_request(pb, user_id))
    assert reply.status == pb.iris.DELIVERY_STATUS_RETRYING and reply.pushed_subscription_count == 0
    delivery = eventually(
        lambda: next((d for d in deliveries(iris, admin_token) if d["deliveryId"] == reply.delivery_id
                      and d["status"] == "DELIVERY_STATUS_SENT"), None), "the push delivery to become SENT")
    assert delivery["attemptCount"] == 3 and delivery["pushedSubscriptionCount"] == 1
    statuses = [p["status"] for p in received_pushes(push_service, subscription["name"])]
    assert statuses == [503, 503, 201]


def test_push_to_a_user_without_subscriptions_is_skipped(iris, pb):
    with grpc.insecure_channel(iris.grpc) as channel:
        reply = pb.iris_grpc.NotificationServiceStub(channel).SendPushNotification(push_request(pb, str(uuid.uuid4())))
    assert reply.status == pb.iris.DELIVERY_STATUS_SKIPPED and reply.subscription_count == 0


def test_push_batch_answers_each_item_and_a_repeat_notifies_nobody_twice(iris, pb, push_service, user_token,
                                                                        admin_token):
    token, user_id = user_token
    subscription = only_subscription(push_service, iris, token)
    batch = pb.iris.SendPushNotificationsRequest(requests=[
        push_request(pb, user_id, title="Batch: your parcel moved"),
        push_request(pb, str(uuid.uuid4())),  # a user without subscriptions
        push_request(pb, user_id, title=""),
        push_request(pb, "42"),
    ])
    with grpc.insecure_channel(iris.grpc) as channel:
        stub = pb.iris_grpc.NotificationServiceStub(channel)
        reply = stub.SendPushNotifications(batch)
        assert [r.WhichOneof("outcome") for r in reply.results] == ["delivery", "delivery", "error", "error"]
        pushed, skipped, no_title, bad_user = reply.results
        assert pushed.delivery.status == pb.iris.DELIVERY_STATUS_SENT and not pushed.delivery.duplicate
        assert (pushed.delivery.pushed_subscription_count, pushed.delivery.subscription_count) == (1, 1)
        assert skipped.delivery.status == pb.iris.DELIVERY_STATUS_SKIPPED and skipped.delivery.subscription_count == 0
        assert (no_title.error.code, no_title.error.message) == ("INVALID_ARGUMENT", "requests[2]: title is required")
        assert bad_user.error.code == "INVALID_ARGUMENT"
        assert bad_user.error.message.startswith("requests[3]: user_id must be a UUID")
        # The first try is made before the answer: the push service has the message now.
        assert len(received_pushes(push_service, subscription["name"])) == 1

        # The same batch again (a consumer redelivering its events): answered from the log.
        again = stub.SendPushNotifications(batch)
        assert [r.WhichOneof("outcome") for r in again.results] == ["delivery", "delivery", "error", "error"]
        assert again.results[0].delivery.duplicate and again.results[1].delivery.duplicate
        assert [r.delivery.delivery_id for r in again.results[:2]] == [pushed.delivery.delivery_id,
                                                                       skipped.delivery.delivery_id]
        assert again.results[2].error == no_title.error
    assert len(received_pushes(push_service, subscription["name"])) == 1
    keys = {r.idempotency_key for r in batch.requests}
    logged = [d for d in deliveries(iris, admin_token, **{"page.page_size": 500}) if d["idempotencyKey"] in keys]
    assert sorted(d["deliveryId"] for d in logged) == sorted([pushed.delivery.delivery_id, skipped.delivery.delivery_id])


@pytest.mark.parametrize("count,message", [(0, "requests is empty"), (501, "the most per call is 500")])
def test_push_batch_size_is_checked(iris, pb, count, message):
    batch = pb.iris.SendPushNotificationsRequest(requests=[push_request(pb, str(uuid.uuid4())) for _ in range(count)])
    with grpc.insecure_channel(iris.grpc) as channel, pytest.raises(grpc.RpcError) as failure:
        pb.iris_grpc.NotificationServiceStub(channel).SendPushNotifications(batch)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in failure.value.details()


BAD_PUSH = [
    ("user id", dict(user_id="42"), "user_id must be a UUID"),
    ("empty title", dict(title=""), "title is required"),
    ("long title", dict(title="t" * 121), "title has 121 characters"),
    ("http url", dict(url="http://example.org/x"), "url must be"),
    ("ttl", dict(ttl_seconds=2_419_201), "ttl_seconds must be 0 to 2419200"),
    ("payload", dict(body="é" * 1000, url="/" + "u" * 2000), "the push message would be"),
]


@pytest.mark.parametrize("case,fields,message", BAD_PUSH, ids=[c[0] for c in BAD_PUSH])
def test_bad_push_requests(iris, pb, case, fields, message):
    fields = dict(fields)
    user_id = fields.pop("user_id", str(uuid.uuid4()))
    request = push_request(pb, user_id, **{k: v for k, v in fields.items() if k != "ttl_seconds"})
    if "ttl_seconds" in fields:
        request.ttl_seconds.value = fields["ttl_seconds"]
    with grpc.insecure_channel(iris.grpc) as channel, pytest.raises(grpc.RpcError) as failure:
        pb.iris_grpc.NotificationServiceStub(channel).SendPushNotification(request)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in failure.value.details()


BAD_SUBSCRIPTIONS = [
    ("http endpoint", lambda s: {**s, "endpoint": "http://push.example.org/x"}, "endpoint"),
    ("short p256dh", lambda s: {**s, "p256dh": s["p256dh"][:40]}, "p256dh"),
    ("p256dh off the curve", lambda s: {**s, "p256dh": "BA" + "A" * 85}, "p256dh"),
    ("auth length", lambda s: {**s, "auth": s["auth"] + "AAAA"}, "auth"),
    ("not base64", lambda s: {**s, "auth": "!!!!!!!!!!!!!!!!!!!!!!"}, "auth"),
]


@pytest.mark.parametrize("case,mutate,field", BAD_SUBSCRIPTIONS, ids=[c[0] for c in BAD_SUBSCRIPTIONS])
def test_malformed_subscriptions_are_refused(iris, push_service, user_token, case, mutate, field):
    token, _ = user_token
    subscription = mutate(new_subscription(push_service, iris))
    response = register(iris, token, subscription)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_ARGUMENT" and field in response.json()["message"]
    listed = requests.get(f"{iris.http}/notifications/push/subscriptions",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json().get("subscriptions", [])
    assert subscription["endpoint"] not in [s["endpoint"] for s in listed]


def test_subscription_routes_need_a_token(iris):
    assert requests.get(f"{iris.http}/notifications/push/subscriptions", timeout=30).status_code == 401
    bad = requests.get(f"{iris.http}/notifications/push/subscriptions", headers={"Authorization": "Bearer garbage"},
                       timeout=30)
    assert bad.status_code == 401 and bad.json()["code"] == "UNAUTHENTICATED"


def test_delivery_log_is_for_admins(iris, user_token, admin_token):
    token, _ = user_token
    url = f"{iris.http}/notifications/admin/deliveries"
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 403
    assert requests.get(url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30).status_code == 200


# --------------------------------------------------------------------------- mail drop


def test_mail_drop_listing_reads_back_what_was_sent(pg, workdir, asgardian, pb, admin_token):
    service = start_iris(pg, workdir, asgardian, "drop")
    try:
        with grpc.insecure_channel(service.grpc) as channel:
            reply = pb.iris_grpc.NotificationServiceStub(channel).SendMail(
                mail_request(pb, template=("payload-update", {
                    "display_name": "Ada", "payload_title": "Books", "tracking_code": "7K3M9QX2T4VA",
                    "status": "in transit", "tracking_url": "https://courier.test/app/track/7K3M9QX2T4VA"})))
        assert reply.status == pb.iris.DELIVERY_STATUS_SENT
        headers = {"Authorization": f"Bearer {admin_token}"}
        listing = requests.get(f"{service.http}/notifications/admin/mail-drop", headers=headers, timeout=30).json()
        entry = listing["entries"][0]
        assert entry["deliveryId"] == reply.delivery_id and entry["recipient"]["address"] == "grace@example.org"
        full = requests.get(f"{service.http}/notifications/admin/mail-drop/{entry['messageId']}", headers=headers,
                            timeout=30).json()["message"]
        assert "7K3M9QX2T4VA" in full["text"] and "7K3M9QX2T4VA" in full["html"] and "\r\n" in full["raw"]
        missing = requests.get(f"{service.http}/notifications/admin/mail-drop/{uuid.uuid4()}", headers=headers, timeout=30)
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
        bad = requests.get(f"{service.http}/notifications/admin/mail-drop/nope", headers=headers, timeout=30)
        assert bad.status_code == 400
    finally:
        assert service.stop() == 0


def test_json_logs_and_metrics(iris):
    lines = iris.logs()
    assert lines and all({"time", "level", "message", "service"} <= set(line) for line in lines)
    metrics = requests.get(f"{iris.http}/metrics", timeout=30).text
    assert "grpc_server_handled_total" in metrics and "iris_delivery_attempts_total" in metrics
