"""The nginx ingress (deploy/nginx/courier.conf.template) in front of the real services: REST, SSE
and gRPC reach the right service; what is not Courier's gets nginx's own answer.

What each bad input gets, through nginx:
- an unknown path -> 404 from nginx with a JSON body (`code` NOT_FOUND), never a service's error;
- the services' /metrics, /healthz, /readyz, /openapi.json -> 404 (kept inside);
- a REST body over 1 MiB -> 413 with a JSON body;
- an unknown gRPC service -> UNIMPLEMENTED with a message; a bad token over gRPC -> the service's
  UNAUTHENTICATED, passed through; an internal service (IdentityService, Iris' NotificationService)
  -> PERMISSION_DENIED from nginx.
"""

import datetime
import json
import queue
import threading
import time

import grpc
import pytest
import requests

REQUEST_ID = "ingress-test-4242"


def test_rest_reaches_each_service_and_request_ids_pass_through(courier, admin, new_user):
    web = courier.web_url
    # Iris (public route), Asgardian (a login), Hermes (the caller's subscriptions).
    vapid = requests.get(f"{web}/notifications/push/vapid-public-key", headers={"X-Request-Id": REQUEST_ID}, timeout=30)
    assert vapid.status_code == 200, vapid.text
    assert len(vapid.json()["publicKey"]) == 87
    assert vapid.headers["X-Request-Id"] == REQUEST_ID  # the service echoes the id nginx passed on

    user, email, password = new_user("Ingrid")
    assert user.principal["roles"] == ["ROLE_USER"]
    subscriptions = user.call("GET", "/tracking/payload")
    assert subscriptions.get("subscriptions", []) == []

    # Without a request id of its own, the caller gets nginx's, the same one the service logged.
    answer = requests.get(f"{web}/user/profile", headers={"Authorization": f"Bearer {user.token}"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["user"]["email"] == email, answer.text
    generated = answer.headers["X-Request-Id"]
    assert len(generated) == 32
    logged = [line for line in courier.services["asgardian"].logs() if line.get("request_id") == generated]
    assert logged, f"Asgardian logged nothing with request id {generated}"

    # A silly id is replaced, not passed on.
    odd = requests.get(f"{web}/notifications/push/vapid-public-key", headers={"X-Request-Id": "x" * 300}, timeout=30)
    assert odd.headers["X-Request-Id"] != "x" * 300


def test_unknown_paths_and_inside_endpoints_get_nginx_404(courier):
    for path in ("/nope", "/api/v1/things", "/metrics", "/healthz", "/readyz", "/openapi.json", "/grpc.health.v1.Health/Check"):
        response = requests.get(courier.web_url + path, timeout=30)
        assert response.status_code == 404, (path, response.status_code, response.text)
        assert response.headers["Server"] == "nginx"
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"code": "NOT_FOUND", "message": f"no such path: {path}"}


def test_security_headers_and_body_limit(courier):
    response = requests.get(f"{courier.web_url}/notifications/push/vapid-public-key", timeout=30)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"

    huge = requests.post(f"{courier.web_url}/auth/login", data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert huge.status_code == 413
    assert huge.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert "frame-ancestors 'none'" in huge.headers["Content-Security-Policy"]


def read_sse(response, into):
    """Puts each `data:` payload of an SSE response on `into`, as parsed JSON."""
    try:
        for line in response.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                into.put(json.loads(line[len("data: "):]))
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError, AttributeError):
        pass


def test_sse_through_nginx_is_not_buffered(courier, admin, world):
    deliverer_id, device = world.deliverer("Sven Streamer")
    recipient, _, _ = world.new_user("Rita Recipient")
    world.payload("Lamp", recipient.principal["userId"], deliverer_id)

    stream = requests.get(f"{courier.web_url}/tracking/admin/deliverers/live",
                          headers={"Authorization": f"Bearer {admin.token}", "Accept": "text/event-stream"},
                          stream=True, timeout=(10, 60))
    assert stream.status_code == 200, stream.text
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    events = queue.Queue()
    reader = threading.Thread(target=read_sse, args=(stream, events), daemon=True)
    reader.start()
    try:
        # A few small events, each of which must arrive while the stream stays open: a buffering
        # proxy would hold them back until its buffer filled or the stream ended.
        for step in range(3):
            latitude = 48.8566 + step * 0.001
            world.report(device, latitude, 2.3522)
            deadline = time.monotonic() + 30
            while True:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"fix {step} never arrived on the SSE stream through nginx"
                event = events.get(timeout=remaining)
                point = event.get("location", {}).get("point", {})
                if event.get("delivererId") == deliverer_id and abs(point.get("latitude", 0) - latitude) < 1e-9:
                    break
    finally:
        stream.close()


def test_grpc_through_grpc_pass_reaches_each_service(courier, admin, world, pb):
    channel = grpc.insecure_channel(courier.grpc_ingress)
    try:
        # Asgardian: a login over gRPC.
        recipient, email, password = world.new_user("Gerd Grpc")
        login = pb.asgardian_grpc.AccountServiceStub(channel).Login(
            pb.asgardian.LoginRequest(email=email, password=password), timeout=30)
        assert login.principal.user_id == recipient.principal["userId"]
        bearer = (("authorization", f"Bearer {login.tokens.access_token}"),)

        # Iris: the public VAPID key, same as over REST.
        key = pb.iris_grpc.PushSubscriptionServiceStub(channel).GetVapidPublicKey(
            pb.iris.GetVapidPublicKeyRequest(), timeout=30)
        rest_key = requests.get(f"{courier.web_url}/notifications/push/vapid-public-key", timeout=30).json()["publicKey"]
        assert key.public_key == rest_key

        # Hermes: a client stream of fixes, and a server stream that sees them.
        deliverer_id, device = world.deliverer("Greta Grpc")
        world.payload("Chair", recipient.principal["userId"], deliverer_id)
        watch = pb.hermes_grpc.DeliveryAdminServiceStub(channel).WatchDelivererPositions(
            pb.hermes.WatchDelivererPositionsRequest(deliverer_ids=[deliverer_id]),
            metadata=(("authorization", f"Bearer {admin.token}"),), timeout=60)

        def fixes():
            for step in range(3):
                world.clock += datetime.timedelta(seconds=5)
                request = pb.hermes.ReportLocationRequest()
                request.location.point.latitude = 40.4168 + step * 0.001
                request.location.point.longitude = -3.7038
                request.location.accuracy_meters = 5.0
                request.location.recorded_at.FromDatetime(world.clock.replace(tzinfo=None))
                yield request

        reply = pb.hermes_grpc.DelivererServiceStub(channel).ReportLocation(
            fixes(), metadata=(("authorization", f"Bearer {device.token}"),), timeout=30)
        assert (reply.accepted_count, reply.rejected_count) == (3, 0), reply
        seen = []
        for update in watch:
            seen.append(round(update.location.point.latitude, 4))
            if seen[-1] == 40.4188:
                break
        assert 40.4188 in seen, seen
        watch.cancel()

        # A bad token is the service's UNAUTHENTICATED, passed through unchanged.
        with pytest.raises(grpc.RpcError) as bad:
            pb.hermes_grpc.TrackingServiceStub(channel).GetAllPayloadSubscriptions(
                pb.hermes.GetAllPayloadSubscriptionsRequest(), metadata=(("authorization", "Bearer nonsense"),), timeout=30)
        assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED, bad.value
        subscriptions = pb.hermes_grpc.TrackingServiceStub(channel).GetAllPayloadSubscriptions(
            pb.hermes.GetAllPayloadSubscriptionsRequest(), metadata=bearer, timeout=30)
        assert list(subscriptions.subscriptions) == []
    finally:
        channel.close()


def test_internal_services_are_refused_at_the_ingress(courier, admin, pb):
    """IdentityService and Iris' NotificationService answer Courier's services only: through nginx
    they are PERMISSION_DENIED even for an admin, while the same calls straight to the service work."""
    bearer = (("authorization", f"Bearer {admin.token}"),)
    user_id = admin.principal["userId"]
    calls = [
        (lambda channel: pb.asgardian_grpc.IdentityServiceStub(channel).GetUserData(
            pb.asgardian.GetUserDataRequest(user_id=user_id), metadata=bearer, timeout=30), "asgardian"),
        (lambda channel: pb.asgardian_grpc.IdentityServiceStub(channel).IsAuthenticated(
            pb.asgardian.IsAuthenticatedRequest(access_token=admin.token), timeout=30), "asgardian"),
        (lambda channel: pb.iris_grpc.NotificationServiceStub(channel).SendMail(
            pb.iris.SendMailRequest(idempotency_key="ingress-refused"), metadata=bearer, timeout=30), None),
    ]
    with grpc.insecure_channel(courier.grpc_ingress) as ingress:
        for call, _ in calls:
            with pytest.raises(grpc.RpcError) as refused:
                call(ingress)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, refused.value
            assert "internal service" in refused.value.details()
    for call, service in calls:
        if service is None:
            continue  # SendMail straight to Iris would send a mail; its own tests cover it
        with grpc.insecure_channel(courier.services[service].grpc) as direct:
            call(direct)
    # Nothing was sent through the ingress.
    sent = [line for line in courier.services["iris"].logs() if "ingress-refused" in json.dumps(line)]
    assert sent == []


def test_unknown_grpc_service_is_unimplemented(courier):
    channel = grpc.insecure_channel(courier.grpc_ingress)
    try:
        for path in ("/grpc.health.v1.Health/Check", "/courier.nothing.v1.Nope/Call", "/courierXasgardian.v1.A/B"):
            with pytest.raises(grpc.RpcError) as unknown:
                channel.unary_unary(path)(b"", timeout=30)
            assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED, (path, unknown.value)
            assert "unknown service" in unknown.value.details()
    finally:
        channel.close()
