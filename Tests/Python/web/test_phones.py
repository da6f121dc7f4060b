"""Deliverers' phones, destinations, arrival estimates and route replay, as people use them: the
whole stack behind nginx, the admin client and the user client in headless Chromium.

- An admin registers a deliverer's phone in the admin client and reads the server URL and device
  identifier off the page; reports in the OsmAnd protocol's two forms (query parameters as Traccar's
  description gives them, and Traccar Client 9's JSON), sent to that URL through nginx, move the
  deliverer's marker on the live map and the carried payload; malformed reports are 400 with the
  field; after a revocation in the page, the phone gets the same 403 as an unknown identifier.
- The admin types a payload's destination; fixes move the payload towards it; the admin's payload
  page and the recipient's card in the user client show the arrival estimate, and both replay the
  route with a slider.
"""

import datetime

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

import osmand
from test_admin_client import go, log_in_as_admin, visible, wait
from test_user_client import card_part, log_in

def marker_latitude(browser, deliverer_id):
    found = browser.find_elements(By.CSS_SELECTOR, f"[data-testid=map-marker][data-deliverer-id='{deliverer_id}']")
    return float(found[0].get_attribute("data-latitude")) if found else None


def test_a_phone_registered_in_the_admin_client_moves_the_deliverer(courier, admin, world, new_user, browser):
    deliverer_id, _ = world.deliverer("Phil Phone")
    recipient, _, _ = new_user("Rhea Recipient")
    payload = world.payload("Phone-tracked lamp", recipient.principal["userId"], deliverer_id)

    log_in_as_admin(browser, courier)
    go(browser, "deliverers")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#device-deliverer option[value='{deliverer_id}']"),
         "the deliverer is not offered in the phones card")
    Select(browser.find_element(By.ID, "device-deliverer")).select_by_value(deliverer_id)
    visible(browser, "#device-label").send_keys("Phil's Pixel")
    browser.find_element(By.ID, "device-submit").click()
    server_url = visible(browser, "#device-server-url").text
    device = browser.find_element(By.ID, "device-identifier").text
    assert server_url == f"{courier.web_url}/tracking/osmand"
    assert len(device) == 32, device
    template = browser.find_element(By.ID, "device-osmand-url").text
    assert template.startswith(f"{server_url}?id={device}&lat={{0}}&lon={{1}}&timestamp={{2}}"), template
    row = visible(browser, "[data-testid=device-row]")
    assert "Phil's Pixel" in row.text and f"{device[:4]}…" in row.text and device not in row.text
    browser.shot("phone-registered")

    go(browser, "live")
    wait(browser, lambda d: d.find_element(By.ID, "live-state").get_attribute("data-state") == "open",
         "the live stream did not open")
    moment = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=2)
    # The query form, exactly as OsmAnd builds it from its URL template, through nginx.
    answer = requests.get(server_url, params=osmand.query(device, 52.5100, 13.3900, moment), timeout=30)
    assert answer.status_code == 200 and answer.json() == {"accepted": True, "movedPayloadCount": 1}, answer.text
    wait(browser, lambda d: marker_latitude(d, deliverer_id) == pytest.approx(52.5100), "the marker did not appear")
    # The JSON form of Traccar Client 9.
    answer = requests.post(server_url, json=osmand.json_body(device, 52.5110, 13.3910, moment + datetime.timedelta(seconds=15)),
                           timeout=30)
    assert answer.status_code == 200 and answer.json()["accepted"] is True, answer.text
    wait(browser, lambda d: marker_latitude(d, deliverer_id) == pytest.approx(52.5110), "the marker did not move")
    # And the form body, as older Traccar Clients post it.
    answer = requests.post(server_url, data=osmand.query(device, 52.5120, 13.3920, moment + datetime.timedelta(seconds=30)),
                           timeout=30)
    assert answer.status_code == 200 and answer.json()["accepted"] is True, answer.text
    wait(browser, lambda d: marker_latitude(d, deliverer_id) == pytest.approx(52.5120), "the marker did not move again")
    browser.shot("phone-moves-the-marker")

    # Each report was a DeliveryPayloadChangedLocation for the carried payload: it follows.
    path = f"/tracking/admin/payloads/{payload['deliveryPayloadId']}"
    wait(browser, lambda d: admin.call("GET", path)["payload"].get("lastLocation", {}).get("point", {}).get("latitude")
         == pytest.approx(52.5120), "the carried payload did not follow the phone")

    # Malformed reports: 400 naming the field, and nothing moves.
    later = moment + datetime.timedelta(seconds=45)
    for params, field in (({k: v for k, v in osmand.query(device, 52.6, 13.4, later).items() if k != "id"}, "id"),
                          (osmand.query(device, 90.5, 13.4, later), "lat"),
                          ({**osmand.query(device, 52.6, 13.4, later), "timestamp": "last tuesday"}, "timestamp")):
        answer = requests.get(server_url, params=params, timeout=30)
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "INVALID_ARGUMENT" and field in answer.json()["message"], answer.json()
    assert marker_latitude(browser, deliverer_id) == pytest.approx(52.5120)

    # Revoked in the page: the same refusal as an identifier nobody has.
    go(browser, "deliverers")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#device-deliverer option[value='{deliverer_id}']"),
         "the deliverer is not offered in the phones card")
    Select(browser.find_element(By.ID, "device-deliverer")).select_by_value(deliverer_id)
    visible(browser, "[data-testid=device-row][data-revoked=false] [data-testid=device-revoke]").click()
    visible(browser, "[data-testid=device-row][data-revoked=true]")
    revoked = requests.get(server_url, params=osmand.query(device, 52.6, 13.4, later), timeout=30)
    unknown = requests.get(server_url, params=osmand.query("Z" * 32, 52.6, 13.4, later), timeout=30)
    assert revoked.status_code == unknown.status_code == 403, (revoked.text, unknown.text)
    assert revoked.json() == unknown.json() and revoked.json()["code"] == "PERMISSION_DENIED"


def test_destination_estimate_and_route_replay_in_both_clients(courier, admin, world, new_user, browser):
    deliverer_id, rider = world.deliverer("Rosa Route")
    recipient, email, password = new_user("Uma User")
    payload = world.payload("Replayed books", recipient.principal["userId"], deliverer_id)
    payload_id, code = payload["deliveryPayloadId"], payload["trackingCode"]
    recipient.call("POST", f"/tracking/payload/{code}", {"title": "My books"})

    # The admin picks a point on the map (it fills the fields), then types the destination and saves.
    log_in_as_admin(browser, courier)
    browser.get(f"{courier.web_url}/admin/payloads/{payload_id}")
    canvas = visible(browser, "#destination-map-canvas")
    canvas.click()
    wait(browser, lambda d: d.find_element(By.ID, "destination-latitude").get_attribute("value") != "",
         "a click on the map did not pick a point")
    assert -90 <= float(browser.find_element(By.ID, "destination-latitude").get_attribute("value")) <= 90
    for field, value in (("destination-latitude", "52.5400"), ("destination-longitude", "13.4000")):
        element = browser.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    browser.find_element(By.ID, "destination-save").click()
    visible(browser, "#destination-saved")
    assert admin.call("GET", f"/tracking/admin/payloads/{payload_id}")["payload"]["destination"] == {
        "latitude": 52.54, "longitude": 13.4}
    # Out of range: Hermes' own message.
    latitude = browser.find_element(By.ID, "destination-latitude")
    latitude.clear()
    latitude.send_keys("123")
    browser.find_element(By.ID, "destination-save").click()
    assert "destination.latitude" in visible(browser, "#destination-error").text

    # Five fixes north towards it, 100 m each 5 s.
    fixes = [(52.5200 + i * 0.0009, 13.4000) for i in range(5)]
    for latitude_, longitude_ in fixes:
        assert world.report(rider, latitude_, longitude_)["accepted"] is True
    wait(browser, lambda d: admin.call("GET", f"/tracking/payload/{code}/route", expect=None)
         .get("properties", {}).get("fixCount") == len(fixes), "the route did not catch up with the fixes")
    browser.refresh()
    eta = visible(browser, "#payload-eta")
    wait(browser, lambda d: d.find_element(By.ID, "payload-eta").text.startswith("in about"), "no estimate on the page")
    assert "km to go" in eta.text

    # Route replay in the admin client: the line, and a slider that walks the fixes.
    browser.find_element(By.ID, "route-load").click()
    wait(browser, lambda d: d.find_element(By.ID, "route-map").get_attribute("data-path-length") == str(len(fixes)),
         "the route was not drawn")
    time_label = browser.find_element(By.ID, "route-time")
    assert time_label.text.startswith(f"Fix 1 of {len(fixes)}")
    replay_marker = "[data-testid=map-marker][data-deliverer-id='replay']"
    assert float(visible(browser, replay_marker).get_attribute("data-latitude")) == pytest.approx(fixes[0][0])
    slider = browser.find_element(By.ID, "route-slider")
    slider.send_keys(Keys.END)
    wait(browser, lambda d: d.find_element(By.ID, "route-time").get_attribute("data-index") == str(len(fixes) - 1),
         "the slider did not move the replay")
    assert float(browser.find_element(By.CSS_SELECTOR, replay_marker).get_attribute("data-latitude")) == pytest.approx(fixes[-1][0])
    slider.send_keys(Keys.HOME)
    browser.find_element(By.ID, "route-play").click()
    wait(browser, lambda d: d.find_element(By.ID, "route-time").get_attribute("data-index") == str(len(fixes) - 1)
         and d.find_element(By.ID, "route-play").text == "Play", "playing did not reach the last fix and stop")
    browser.shot("admin-route-replay")

    # The user client: the estimate on the recipient's card, and the same replay.
    browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    log_in(browser, courier, email, password)
    wait(browser, lambda d: (card_part(d, code, "payload-eta") is not None
                             and card_part(d, code, "payload-eta").text.startswith("Arrives in about")),
         "the user client shows no estimate")
    assert "away" in card_part(browser, code, "payload-eta").text
    assert card_part(browser, code, "payload-map").get_attribute("data-destination") == "52.54,13.4"
    card_part(browser, code, "payload-route").click()
    wait(browser, lambda d: card_part(d, code, "route-time").text.startswith(f"Fix 1 of {len(fixes)}"),
         "the user client did not load the route")
    card_part(browser, code, "route-slider").send_keys(Keys.END)
    wait(browser, lambda d: card_part(d, code, "route-time").get_attribute("data-index") == str(len(fixes) - 1),
         "the user client's slider did not move")
    browser.shot("user-route-replay")
