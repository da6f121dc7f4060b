"""The gateway over real HTTP on loopback, with the `requests` client: the sample services
(Hermes' TrackingService and DeliveryAdminService over an in-memory store) behind generated routes."""

import uuid

import pytest
import requests

import sample_server

USER = {"Authorization": "Bearer user-token"}
ADMIN = {"Authorization": "Bearer admin-token"}
REGISTERED = "7K3M9QX2T4VA"
IN_TRANSIT = "AAAABBBBCCCC"
IN_TRANSIT_ID = "22222222-2222-4222-8222-222222222222"


@pytest.fixture(scope="module")
def base():
    with sample_server.running("--keep-alive-ms", "50", "--max-body", "4096") as url:
        yield url


def error_of(response):
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    return body


def test_subscribe_list_and_unsubscribe(base):
    created = requests.post(f"{base}/tracking/payload/{REGISTERED.lower()}", json={"title": "Books"}, headers=USER)
    assert created.status_code == 200, created.text
    assert created.headers["Content-Type"] == "application/json"
    subscription = created.json()["subscription"]
    assert subscription["payloadTrackingCode"] == REGISTERED
    assert subscription["payloadStatus"] == "DELIVERY_PAYLOAD_STATUS_REGISTERED"

    listed = requests.get(f"{base}/tracking/payload", headers=USER).json()
    assert REGISTERED in [entry["payloadTrackingCode"] for entry in listed["subscriptions"]]

    removed = requests.delete(f"{base}/tracking/payload/{REGISTERED}", headers=USER)
    assert removed.json() == {"removed": True}
    again = requests.delete(f"{base}/tracking/payload/{REGISTERED}", headers=USER)
    assert again.json() == {}, "proto3 JSON leaves out false"


@pytest.mark.parametrize(
    "headers, status, code",
    [
        ({}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Token abc"}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer"}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer wrong"}, 401, "UNAUTHENTICATED"),
        (USER, 403, "PERMISSION_DENIED"),
    ],
)
def test_auth_failures(base, headers, status, code):
    response = requests.get(f"{base}/tracking/admin/payloads", headers=headers)
    assert response.status_code == status
    assert error_of(response)["code"] == code


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"title": 5}', "title"),
        ('{"title": "x", "colour": "red"}', "colour"),
        ('{"title": ', ""),
        ("[]", ""),
    ],
)
def test_bad_json_is_a_400_naming_the_field(base, body, field):
    response = requests.post(
        f"{base}/tracking/payload/{REGISTERED}",
        data=body,
        headers={**USER, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["details"][0]["fieldViolations"][0]["field"] == field
    if field:
        assert field in error["message"]


def test_missing_path_variable_is_a_400_naming_it(base):
    response = requests.post(f"{base}/tracking/payload/", json={"title": "x"}, headers=USER)
    assert response.status_code == 400
    assert "payload_tracking_code" in error_of(response)["message"]


def test_query_parameters_dotted_enum_and_paging(base):
    first = requests.get(
        f"{base}/tracking/admin/payloads",
        params={"page.page_size": "1", "status": "DELIVERY_PAYLOAD_STATUS_IN_TRANSIT"},
        headers=ADMIN,
    ).json()
    assert [p["trackingCode"] for p in first["payloads"]] == [IN_TRANSIT]
    everything = requests.get(f"{base}/tracking/admin/payloads", params={"page.page_size": "2"}, headers=ADMIN).json()
    token = everything["pageInfo"]["nextPageToken"]
    rest = requests.get(
        f"{base}/tracking/admin/payloads", params={"page.page_size": "2", "page.page_token": token}, headers=ADMIN
    )
    assert rest.status_code == 200
    bad = requests.get(f"{base}/tracking/admin/payloads", params={"page.page_size": "many"}, headers=ADMIN)
    assert bad.status_code == 400 and "page.page_size" in error_of(bad)["message"]
    unknown = requests.get(f"{base}/tracking/admin/payloads", params={"colour": "red"}, headers=ADMIN)
    assert unknown.status_code == 400 and "colour" in error_of(unknown)["message"]


def test_routing_edges(base):
    slash = requests.get(f"{base}/tracking/payload/", headers=USER)
    assert slash.status_code == 200
    encoded = requests.post(f"{base}/tracking/payload/7K3M%2F9QX2T4V", json={"title": "x"}, headers=USER)
    assert encoded.status_code == 400 and error_of(encoded)["code"] == "INVALID_ARGUMENT"
    wrong_verb = requests.patch(f"{base}/tracking/payload", headers=USER)
    assert wrong_verb.status_code == 405 and wrong_verb.headers["Allow"] == "GET"
    nowhere = requests.get(f"{base}/nowhere", headers=USER)
    assert nowhere.status_code == 404 and error_of(nowhere)["code"] == "NOT_FOUND"


def test_request_ids_and_body_limit(base):
    echoed = requests.get(f"{base}/healthz", headers={"X-Request-Id": "trace-42"})
    assert echoed.headers["X-Request-Id"] == "trace-42"
    made = requests.get(f"{base}/healthz")
    uuid.UUID(made.headers["X-Request-Id"])
    assert requests.get(f"{base}/readyz").status_code == 200
    big = requests.post(f"{base}/tracking/payload/{REGISTERED}", json={"title": "x" * 5000}, headers=USER)
    assert big.status_code == 413
    assert error_of(big)["code"] == "RESOURCE_EXHAUSTED"


def test_server_stream_as_server_sent_events(base):
    assert requests.post(f"{base}/tracking/payload/{IN_TRANSIT}", json={"title": "Bike"}, headers=USER).ok
    with requests.get(
        f"{base}/tracking/payload/live",
        params={"payload_tracking_codes": IN_TRANSIT},
        headers=USER,
        stream=True,
        timeout=30,
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        lines = stream.iter_lines(decode_unicode=True)

        def next_event():
            for line in lines:
                if line.startswith("data: "):
                    return line[len("data: "):]
            raise AssertionError("the stream ended")

        def next_comment():
            for line in lines:
                if line.startswith(": keep-alive"):
                    return line
            raise AssertionError("the stream ended")

        first = next_event()
        assert IN_TRANSIT in first and "DELIVERY_PAYLOAD_STATUS_IN_TRANSIT" in first
        assert next_comment() == ": keep-alive"
        moved = requests.put(
            f"{base}/tracking/admin/payloads/{IN_TRANSIT_ID}/status",
            json={"status": "DELIVERY_PAYLOAD_STATUS_DELIVERED", "note": "left with neighbour"},
            headers=ADMIN,
        )
        assert moved.status_code == 200, moved.text
        assert "DELIVERY_PAYLOAD_STATUS_DELIVERED" in next_event()


def test_a_failing_stream_ends_with_an_error_event(base):
    with requests.get(
        f"{base}/tracking/payload/live",
        params={"payload_tracking_codes": "not-a-code"},
        headers=USER,
        stream=True,
        timeout=30,
    ) as stream:
        text = stream.content.decode()
    assert "event: error" in text and '"code":"INVALID_ARGUMENT"' in text
