"""Every generated OpenAPI document validates as OpenAPI 3.1 (openapi-spec-validator)."""

import json
import subprocess

import pytest
import requests
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

import sample_server

EXPECTED_SERVICES = {
    "courier.asgardian.v1.AccountService",
    "courier.asgardian.v1.UserAdminService",
    "courier.hermes.v1.TrackingService",
    "courier.hermes.v1.DeliveryAdminService",
    "courier.hermes.v1.DelivererService",
    "courier.iris.v1.PushSubscriptionService",
    "courier.iris.v1.LiveNotificationService",
    "courier.iris.v1.DeliveryLogService",
}


def dumped_documents(tmp_path):
    subprocess.run(
        [str(sample_server.binary()), "--dump-openapi", str(tmp_path)], check=True, capture_output=True
    )
    return {path.stem: json.loads(path.read_text()) for path in sorted(tmp_path.glob("*.json"))}


def test_every_service_with_rest_routes_has_a_valid_document(tmp_path):
    documents = dumped_documents(tmp_path)
    assert set(documents) == EXPECTED_SERVICES
    for service, document in documents.items():
        assert document["openapi"] == "3.1.0", service
        assert document["info"]["title"] == service
        assert document["paths"], f"{service} has no paths"
        validate(document)


def test_documents_follow_the_proto3_json_mapping(tmp_path):
    documents = dumped_documents(tmp_path)
    schemas = documents["courier.hermes.v1.DeliveryAdminService"]["components"]["schemas"]
    page_info = schemas["courier.common.v1.PageInfo"]["properties"]
    assert page_info["totalSize"]["type"] == "string", "int64 is a JSON string"
    payload = schemas["courier.hermes.v1.DeliveryPayload"]["properties"]
    assert (payload["createdAt"]["type"], payload["createdAt"]["format"]) == ("string", "date-time")
    assert "DELIVERY_PAYLOAD_STATUS_IN_TRANSIT" in payload["status"]["enum"]
    listing = documents["courier.hermes.v1.DeliveryAdminService"]["paths"]["/tracking/admin/payloads"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert {"page.page_size", "page.page_token", "status", "deliverer_id", "recipient_user_id"} <= names
    login = documents["courier.asgardian.v1.AccountService"]["paths"]["/auth/login"]["post"]
    assert login["security"] == [], "a public route needs no token"


def test_the_served_document_is_valid_and_merges_the_mounted_services():
    with sample_server.running() as base:
        document = requests.get(f"{base}/openapi.json", timeout=10).json()
    validate(document)
    assert "/tracking/payload/{payload_tracking_code}" in document["paths"]
    assert "/tracking/admin/payloads" in document["paths"]


def test_the_validator_rejects_a_broken_document(tmp_path):
    document = dumped_documents(tmp_path)["courier.hermes.v1.TrackingService"]
    del document["paths"]["/tracking/payload/{payload_tracking_code}"]["post"]["parameters"]
    with pytest.raises(OpenAPIValidationError):
        validate(document)
