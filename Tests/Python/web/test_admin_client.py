"""The admin client (web/admin-client/, served by nginx at /admin/) in headless Chromium against the
real stack.

- An admin logs in, registers a deliverer (a user signed up through REST, given the deliverer role
  from the form), registers stuff for another user, assigns it and marks it picked up; the deliverer
  reports fixes over REST and the marker and the list row appear and move without a reload.
- A person without the admin role is refused with a message that says so; a wrong password shows
  Asgardian's message.
- Bad input in a form shows the service's own message (the one the REST API gives for the same body).
- With tiles reachable (a local HTTPS stand-in for tile.openstreetmap.org), the map draws them and
  credits OpenStreetMap; offline it draws the labelled grid.
- When Hermes restarts under an open live stream, the view retries with backoff and reconnects.
"""

import base64
import datetime
import http.server
import math
import pathlib
import re
import ssl
import tempfile
import threading
import uuid

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from courier_web import ARTIFACTS, CHROMEDRIVER, chromium_options

WAIT = 30  # seconds; every wait polls, none sleeps


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def wait(driver, condition, message, timeout=WAIT):
    # A list row is replaced when it changes: a reference taken a moment ago may be stale.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition, message)


def visible(driver, css):
    return wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), f"{css} never became visible")


def text_of(driver, css):
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements and elements[0].is_displayed() else ""


def log_in(browser, base, email, password):
    browser.get(f"{base}/admin/")
    visible(browser, "#login-email").send_keys(email)
    browser.find_element(By.ID, "login-password").send_keys(password)
    browser.find_element(By.ID, "login-submit").click()


def log_in_as_admin(browser, courier):
    log_in(browser, courier.web_url, courier.admin_email, courier.admin_password)
    visible(browser, "#nav")
    visible(browser, "#logout-button")


def go(browser, section):
    browser.find_element(By.ID, f"nav-{section}").click()
    wait(browser, lambda d: d.find_element(By.ID, f"nav-{section}").get_attribute("aria-current") == "page",
         f"the {section} page did not open")


def choose_user(browser, prefix, email):
    query = visible(browser, f"#{prefix}-query")
    query.clear()
    query.send_keys(email, Keys.ENTER)
    choice = wait(browser, EC.element_to_be_clickable(
        (By.XPATH, f"//ul[@id='{prefix}-results']//button[contains(., '{email}')]")), f"{email} not found by the picker")
    choice.click()
    wait(browser, lambda d: email in d.find_element(By.ID, f"{prefix}-chosen").text, f"{email} was not chosen")


def payload_row(browser, code):
    """The row of `code` once the list has finished loading (a load replaces every row)."""
    return visible(browser, f"#payload-rows:not([aria-busy]) > tr[data-testid=payload-row][data-tracking-code='{code}']")


def test_admin_registers_assigns_and_watches_a_deliverer(courier, admin, new_user, browser):
    recipient, recipient_email, _ = new_user("Rita Recipient")
    rider, rider_email, rider_password = new_user("Dora Rider")

    log_in_as_admin(browser, courier)
    assert browser.find_element(By.ID, "nav-live").get_attribute("aria-current") == "page"  # the start page
    browser.shot("1-logged-in")

    # Register the deliverer: the user lacks ROLE_DELIVERER, so the form offers to grant it.
    go(browser, "deliverers")
    choose_user(browser, "deliverer-user", rider_email)
    grant = visible(browser, "#deliverer-grant-role")
    assert grant.is_selected()
    name = browser.find_element(By.ID, "deliverer-name")
    assert name.get_attribute("value") == "Dora Rider"  # taken from the chosen user
    name.clear()
    name.send_keys("Dora on the cargo bike")
    Select(browser.find_element(By.ID, "deliverer-vehicle")).select_by_value("VEHICLE_KIND_CARGO_BIKE")
    browser.find_element(By.ID, "deliverer-plate").send_keys("CB-42")
    browser.find_element(By.ID, "deliverer-submit").click()
    created = visible(browser, "#deliverer-created")
    assert "Dora on the cargo bike" in created.text
    deliverer_id = created.get_attribute("data-deliverer-id")
    assert re.fullmatch(r"[0-9a-f-]{36}", deliverer_id), deliverer_id
    visible(browser, f"tr[data-testid=deliverer-row][data-deliverer-id='{deliverer_id}']")
    browser.shot("2-deliverer-registered")
    user = admin.call("GET", f"/user/admin/users/{rider.principal['userId']}")["user"]
    assert "ROLE_DELIVERER" in user["roles"]

    # Register stuff for the recipient; the tracking code comes from Hermes.
    go(browser, "payloads")
    visible(browser, "#payload-title").send_keys("Blue armchair")
    browser.find_element(By.ID, "payload-description").send_keys("Heavy; two people to carry")
    choose_user(browser, "payload-recipient", recipient_email)
    browser.find_element(By.ID, "payload-submit").click()
    code_element = visible(browser, "#payload-created-code")
    code = code_element.text
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", code), code
    row = payload_row(browser, code)
    payload_id = row.get_attribute("data-payload-id")
    assert row.find_element(By.CSS_SELECTOR, "[data-testid=payload-status]").text == "Registered"
    assert row.find_element(By.CSS_SELECTOR, "[data-testid=payload-deliverer]").text == "Unassigned"
    stored = admin.call("GET", f"/tracking/admin/payloads/{payload_id}")["payload"]
    assert stored["trackingCode"] == code and stored["recipientUserId"] == recipient.principal["userId"]

    # Assign it, then mark it picked up so that the deliverer's fixes move it.
    Select(row.find_element(By.CSS_SELECTOR, "[data-testid=payload-assign-select]")).select_by_value(deliverer_id)
    row.find_element(By.CSS_SELECTOR, "[data-testid=payload-assign-apply]").click()
    wait(browser, lambda d: payload_row(d, code).find_element(
        By.CSS_SELECTOR, "[data-testid=payload-deliverer]").text == "Dora on the cargo bike", "the assignment did not show")
    row = payload_row(browser, code)
    Select(row.find_element(By.CSS_SELECTOR, "[data-testid=payload-status-select]")).select_by_value(
        "DELIVERY_PAYLOAD_STATUS_PICKED_UP")
    row.find_element(By.CSS_SELECTOR, "[data-testid=payload-status-apply]").click()
    wait(browser, lambda d: payload_row(d, code).find_element(
        By.CSS_SELECTOR, "[data-testid=payload-status]").text == "Picked up", "the status change did not show")
    assert "picked up" in text_of(browser, "#payload-list-status")
    browser.shot("3-stuff-assigned")
    stored = admin.call("GET", f"/tracking/admin/payloads/{payload_id}")["payload"]
    assert stored["delivererId"] == deliverer_id and stored["status"] == "DELIVERY_PAYLOAD_STATUS_PICKED_UP"

    # Its page shows the history and hands out the receipt Hermes rendered.
    payload_row(browser, code).find_element(By.CSS_SELECTOR, "[data-testid=payload-open]").click()
    wait(browser, lambda d: [entry.get_attribute("data-status") for entry in d.find_elements(
        By.CSS_SELECTOR, "[data-testid=payload-history-entry]")] == [
        "DELIVERY_PAYLOAD_STATUS_REGISTERED", "DELIVERY_PAYLOAD_STATUS_PICKED_UP"], "the status history is missing")
    assert code in browser.find_element(By.ID, "payload-detail-title").text
    wait(browser, lambda d: d.find_element(By.ID, "payload-detail-deliverer").text == "Dora on the cargo bike"
         and recipient_email in d.find_element(By.ID, "payload-detail-recipient").text, "names are not shown")

    def receipt_ready(driver):
        # Until the receipt is rendered Hermes answers UNAVAILABLE, which the page shows; ask again.
        if driver.find_element(By.ID, "payload-receipt-ready").is_displayed():
            return True
        button = driver.find_element(By.ID, "payload-receipt")
        if button.is_enabled() and button.get_attribute("aria-busy") is None:
            button.click()
        return False

    WebDriverWait(browser, WAIT, poll_frequency=0.5).until(receipt_ready, "the receipt never came")
    link = browser.find_element(By.ID, "payload-receipt-link")
    assert link.get_attribute("download") == f"receipt-{code}.pdf"
    assert link.get_attribute("href").startswith("blob:")
    receipt = admin.call("GET", f"/tracking/payload/{code}/receipt")
    assert receipt["content"].startswith("JVBERi0")  # %PDF-
    assert f"{-(-len(base64.b64decode(receipt['content'])) // 1024)} KiB" in browser.find_element(By.ID, "payload-receipt-ready").text
    browser.shot("3b-stuff-history")

    # Open the live view; nothing of this deliverer is shown before a fix.
    go(browser, "live")
    wait(browser, lambda d: d.find_element(By.ID, "live-state").get_attribute("data-state") == "open",
         "the live stream did not open")
    marker_css = f"[data-testid=map-marker][data-deliverer-id='{deliverer_id}']"
    row_css = f"tr[data-testid=live-row][data-deliverer-id='{deliverer_id}']"
    assert not browser.find_elements(By.CSS_SELECTOR, marker_css)
    assert not browser.find_elements(By.CSS_SELECTOR, row_css)
    browser.execute_script("window.__sameDocument = true;")

    # The deliverer logs in again (the new role is in new tokens) and reports a fix over REST.
    rider.login(rider_email, rider_password)
    now = datetime.datetime.now(datetime.timezone.utc)
    fix = rider.call("POST", "/tracking/deliverer/location", {"location": {
        "point": {"latitude": 52.52, "longitude": 13.405}, "accuracyMeters": 8,
        "speedMetersPerSecond": 4.5, "recordedAt": rfc3339(now - datetime.timedelta(seconds=20))}})
    assert fix.get("accepted") is True, fix
    assert fix.get("movedPayloadCount") == 1, fix

    marker = visible(browser, marker_css)
    assert "Dora on the cargo bike" in marker.text
    assert float(marker.get_attribute("data-latitude")) == pytest.approx(52.52)
    live_row = visible(browser, row_css)
    assert "Dora on the cargo bike" in live_row.text
    assert "52.52000°N, 13.40500°E" in live_row.find_element(By.CSS_SELECTOR, "[data-testid=live-position]").text
    assert "16.2 km/h" in live_row.text
    wait(browser, lambda d: code in d.find_element(By.CSS_SELECTOR, f"{row_css} [data-testid=live-assigned]").text,
         "the list does not show the assigned stuff")
    # The first data fits the view: the marker is inside the map.
    map_box = browser.find_element(By.ID, "live-map").rect
    dot = marker.find_element(By.CSS_SELECTOR, ".map-marker-dot").rect
    assert map_box["x"] <= dot["x"] <= map_box["x"] + map_box["width"], (map_box, dot)
    assert map_box["y"] <= dot["y"] <= map_box["y"] + map_box["height"], (map_box, dot)
    basemap = browser.find_element(By.ID, "live-map").get_attribute("data-basemap")
    attribution = browser.find_element(By.ID, "map-attribution").text
    assert (basemap, "OpenStreetMap" in attribution) in {("tiles", True), ("grid", False)}, (basemap, attribution)
    browser.shot("4-first-fix-on-map")

    # A second fix moves the marker and the row, still in the same document.
    fix = rider.call("POST", "/tracking/deliverer/location", {"location": {
        "point": {"latitude": 52.5212, "longitude": 13.4101}, "accuracyMeters": 8,
        "speedMetersPerSecond": 6, "recordedAt": rfc3339(now)}})
    assert fix.get("accepted") is True, fix
    wait(browser, lambda d: "52.52120°N, 13.41010°E" in d.find_element(
        By.CSS_SELECTOR, f"{row_css} [data-testid=live-position]").text, "the list did not follow the second fix")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, marker_css).get_attribute("data-latitude") == "52.5212",
         "the marker did not follow the second fix")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was reloaded"

    # The map answers the keyboard: an arrow key pans, so the marker moves on screen.
    before = browser.find_element(By.CSS_SELECTOR, marker_css).rect
    browser.find_element(By.ID, "live-map-canvas").send_keys(Keys.ARROW_RIGHT)
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, marker_css).rect["x"] < before["x"] - 40,
         "the arrow key did not pan the map")

    # The mouse: a drag pans by as much, the wheel zooms in.
    def zoom(driver):
        return float(driver.find_element(By.ID, "live-map").get_attribute("data-zoom"))

    canvas = browser.find_element(By.ID, "live-map-canvas")
    before = browser.find_element(By.CSS_SELECTOR, marker_css).rect
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(-60, 30).move_by_offset(-60, 30) \
        .release().perform()
    wait(browser, lambda d: abs(d.find_element(By.CSS_SELECTOR, marker_css).rect["x"] - (before["x"] - 120)) <= 2
         and abs(d.find_element(By.CSS_SELECTOR, marker_css).rect["y"] - (before["y"] + 60)) <= 2,
         "dragging did not pan the map")
    start = zoom(browser)
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
    wait(browser, lambda d: zoom(d) > start + 0.5, "the wheel did not zoom in")

    # Touch: two fingers spreading apart zoom in (Chromium's touch emulation through DevTools).
    start = zoom(browser)
    box = canvas.rect
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def touch(kind, spread):
        points = [] if kind == "touchEnd" else [{"x": cx - spread, "y": cy, "id": 1}, {"x": cx + spread, "y": cy, "id": 2}]
        browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 40)
    for spread in (60, 80, 100, 120, 160):
        touch("touchMove", spread)
    touch("touchEnd", 0)
    wait(browser, lambda d: zoom(d) > start + 1, "a pinch did not zoom in")

    browser.find_element(By.ID, "map-fit").click()
    visible(browser, marker_css)
    browser.shot("5-second-fix")

    # At 360 px the pages fit the width (tables become labelled cards) and the marker stays live.
    browser.set_window_size(360, 780)
    for section in ("live", "payloads", "deliverers", "deliveries", "mail"):
        go(browser, section)
        visible(browser, "main h1")
        wait(browser, lambda d: d.execute_script("return document.documentElement.scrollWidth") <= d.execute_script(
            "return window.innerWidth"), f"the {section} page is wider than the screen")
        if section == "live":
            visible(browser, marker_css)
            visible(browser, row_css)
        browser.shot(f"6-narrow-{section}")
    browser.set_window_size(1280, 900)

    # Logging out returns to the login page and forgets the session.
    browser.find_element(By.ID, "logout-button").click()
    visible(browser, "#login-form")
    assert browser.execute_script("return sessionStorage.length") == 0


def test_a_person_without_the_admin_role_is_refused(courier, new_user, browser):
    _, email, password = new_user("Nora Nonadmin")

    log_in(browser, courier.web_url, email, "not the password at all")
    error = visible(browser, "#login-error")
    assert "UNAUTHENTICATED" in error.text and "401" in error.text, error.text

    browser.find_element(By.ID, "login-password").clear()
    browser.find_element(By.ID, "login-password").send_keys(password)
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: "not an administrator" in d.find_element(By.ID, "login-error").text,
         "the refusal does not say why")
    assert not browser.find_element(By.ID, "nav").is_displayed()
    assert browser.execute_script("return sessionStorage.length") == 0
    browser.shot("refused")


def test_bad_input_shows_the_service_message(courier, admin, new_user, browser):
    recipient, recipient_email, _ = new_user("Bea Badinput")
    long_title = "x" * 101
    expected = admin.call("POST", "/tracking/admin/payloads", {
        "title": long_title, "recipientUserId": recipient.principal["userId"], "requestId": str(uuid.uuid4())},
        expect=400)["message"]

    log_in_as_admin(browser, courier)
    go(browser, "payloads")
    visible(browser, "#payload-title").send_keys(long_title)
    choose_user(browser, "payload-recipient", recipient_email)
    browser.find_element(By.ID, "payload-submit").click()
    error = visible(browser, "#payload-error")
    assert expected in error.text and "INVALID_ARGUMENT" in error.text, (expected, error.text)
    assert not browser.find_element(By.ID, "payload-created").is_displayed()
    browser.shot("payload-title-too-long")

    # A user without the deliverer role, with the grant unticked: Hermes's refusal is shown.
    expected = admin.call("POST", "/tracking/admin/deliverers", {
        "userId": recipient.principal["userId"], "displayName": "Bea", "vehicle": {"kind": "VEHICLE_KIND_CAR"}},
        expect=400)["message"]
    go(browser, "deliverers")
    choose_user(browser, "deliverer-user", recipient_email)
    visible(browser, "#deliverer-grant-role").click()
    browser.find_element(By.ID, "deliverer-submit").click()
    error = visible(browser, "#deliverer-error")
    assert expected in error.text and "FAILED_PRECONDITION" in error.text, (expected, error.text)
    browser.shot("deliverer-without-role")

    # The delivery log and the mail drop list what Iris sent (the welcome mails of the sign-ups).
    go(browser, "deliveries")
    visible(browser, "tr[data-testid=delivery-row]")
    go(browser, "mail")
    def welcome_listed(driver):
        if driver.find_element(By.ID, "mail-rows").get_attribute("aria-busy"):
            return False  # still loading
        if any(recipient_email in row.text for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-testid=mail-row]")):
            return True
        driver.find_element(By.ID, "mail-refresh").click()  # Iris may still be writing it
        return False

    WebDriverWait(browser, WAIT, poll_frequency=0.5).until(welcome_listed, "the welcome mail is not in the mail drop")
    link = next(row for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-testid=mail-row]")
                if recipient_email in row.text).find_element(By.CSS_SELECTOR, "[data-testid=mail-open]")
    subject = link.text
    link.click()
    wait(browser, lambda d: d.find_element(By.ID, "mail-subject").text == subject, "the message did not open")
    wait(browser, lambda d: "Bea Badinput" in d.find_element(By.ID, "mail-text").text, "the mail text is missing")
    browser.shot("mail-message")


def test_a_rejected_access_token_is_renewed_once(courier, browser):
    """A 401 makes the client refresh its tokens once and repeat the call; the live stream too."""
    log_in_as_admin(browser, courier)
    state = browser.execute_script("return JSON.parse(sessionStorage.getItem('courier.admin.session'))")
    old_refresh = state["tokens"]["refreshToken"]
    state["tokens"]["accessToken"] = "not-a-token"
    browser.execute_script("sessionStorage.setItem('courier.admin.session', JSON.stringify(arguments[0]))", state)

    browser.get(f"{courier.web_url}/admin/deliveries")  # a deep link: nginx serves index.html
    visible(browser, "tr[data-testid=delivery-row]")
    assert not browser.find_element(By.ID, "deliveries-error").is_displayed()
    renewed = browser.execute_script("return JSON.parse(sessionStorage.getItem('courier.admin.session'))")
    assert renewed["tokens"]["accessToken"] != "not-a-token"
    assert renewed["tokens"]["refreshToken"] != old_refresh

    # The same for the live stream, which reads SSE through fetch().
    renewed["tokens"]["accessToken"] = "not-a-token"
    browser.execute_script("sessionStorage.setItem('courier.admin.session', JSON.stringify(arguments[0]))", renewed)
    browser.get(f"{courier.web_url}/admin/live")
    wait(browser, lambda d: d.find_element(By.ID, "live-state").get_attribute("data-state") == "open",
         "the live stream did not open after a refresh")
    assert not browser.find_element(By.ID, "live-error").is_displayed()

    # A refresh token that no longer works ends the session with a message.
    broken = browser.execute_script("return JSON.parse(sessionStorage.getItem('courier.admin.session'))")
    broken["tokens"]["accessToken"] = "not-a-token"
    broken["tokens"]["refreshToken"] = old_refresh  # already used: Asgardian refuses it
    browser.execute_script("sessionStorage.setItem('courier.admin.session', JSON.stringify(arguments[0]))", broken)
    browser.get(f"{courier.web_url}/admin/payloads")
    notice = visible(browser, "#login-notice")
    assert "session ended" in notice.text, notice.text
    browser.shot("session-ended")


def test_stream_parser_and_map_projection_in_the_browser(courier, browser):
    """The pieces that the end-to-end test cannot corner: SSE framing split across chunks, and the
    Web Mercator maths of the map module, run as the browser loads them."""
    browser.get(f"{courier.web_url}/admin/")
    visible(browser, "#login-form")
    result = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all([import('/admin/js/sse.js'), import('/admin/js/map.js')]).then(([sse, map]) => {
          const events = [];
          const parser = new sse.EventStreamParser((event) => events.push(event));
          for (const chunk of [': keep-alive\\r', '\\n', 'data: {"a":', '1}\\r\\n\\r\\n', 'data: one\\ndata: two\\n\\n',
                               'event: error\\ndata: {"code":"UNAVAILABLE","message":"bye"}\\n', '\\n', ': tail\\n\\n'])
            parser.push(chunk);
          const points = [[0, 0], [52.52, 13.405], [-33.8688, 151.2093], [85, -179.9], [-85, 179.9]].map(([lat, lon]) => {
            const p = map.project(lat, lon);
            const back = map.unproject(p.x, p.y);
            return [lat, lon, p.x, p.y, back.latitude, back.longitude];
          });
          done({ events, points });
        }).catch((error) => done({ error: String(error) }));
    """)
    assert "error" not in result, result
    assert result["events"] == [
        {"event": "message", "data": '{"a":1}'},
        {"event": "message", "data": "one\ntwo"},
        {"event": "error", "data": '{"code":"UNAVAILABLE","message":"bye"}'},
    ]
    origin = result["points"][0]
    assert origin[2] == pytest.approx(0.5) and origin[3] == pytest.approx(0.5)
    for lat, lon, x, y, back_lat, back_lon in result["points"]:
        assert 0 <= x <= 1 and 0 <= y <= 1
        assert back_lat == pytest.approx(lat, abs=1e-9) and back_lon == pytest.approx(lon, abs=1e-9)
    berlin = result["points"][1]
    assert berlin[3] < 0.5  # north is up


def test_the_stuff_list_pages_with_the_service_tokens(courier, admin, new_user, browser):
    recipient, _, _ = new_user("Paula Pages")
    for number in range(27):
        admin.call("POST", "/tracking/admin/payloads", {
            "title": f"Parcel {number}", "recipientUserId": recipient.principal["userId"]})
    total = int(admin.call("GET", "/tracking/admin/payloads", None, params={"page.pageSize": 1})["pageInfo"]["totalSize"])

    log_in_as_admin(browser, courier)
    go(browser, "payloads")

    def codes(driver):
        rows = driver.find_elements(By.CSS_SELECTOR, "#payload-rows:not([aria-busy]) > tr[data-testid=payload-row]")
        return [row.get_attribute("data-tracking-code") for row in rows]

    wait(browser, lambda d: len(codes(d)) == 25, "the first page does not hold 25 rows")
    first = codes(browser)
    assert browser.find_element(By.ID, "payload-total").text.startswith(f"{total} in all · page 1")
    assert not browser.find_element(By.ID, "payload-previous").is_enabled()
    browser.find_element(By.ID, "payload-next").click()
    wait(browser, lambda d: "page 2" in d.find_element(By.ID, "payload-total").text and codes(d), "page 2 did not open")
    second = codes(browser)
    assert len(second) == min(25, total - 25) and not set(first) & set(second)
    browser.shot("page-2")
    browser.find_element(By.ID, "payload-previous").click()
    wait(browser, lambda d: "page 1" in d.find_element(By.ID, "payload-total").text and codes(d) == first,
         "Previous page did not bring page 1 back")


# ---------------------------------------------------------------- tiles through a local stand-in


class TileServer:
    """HTTPS on loopback that answers every `/{z}/{x}/{y}.png` with a small labelled SVG tile, for a
    Chromium that maps tile.openstreetmap.org here. Remembers what was asked."""

    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tile.openstreetmap.org")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=2))
                       .add_extension(x509.SubjectAlternativeName([x509.DNSName("tile.openstreetmap.org")]), False)
                       .sign(key, hashes.SHA256()))
        (directory / "tile.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / "tile.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                match = re.fullmatch(r"/(\d+)/(\d+)/(\d+)\.png", self.path)
                if not match:
                    self.send_error(404)
                    return
                server.requests.append(tuple(int(part) for part in match.groups()))
                body = ('<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">'
                        '<rect width="256" height="256" fill="#cfe8c8" stroke="#2a6" stroke-width="2"/>'
                        f'<text x="128" y="128" font-size="24" text-anchor="middle">{"/".join(match.groups())}</text>'
                        '</svg>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "image/svg+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "tile.pem", directory / "tile.key")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tile_browser(request):
    """A Chromium whose tile.openstreetmap.org is a TileServer on loopback (its certificate is
    self-signed, hence --ignore-certificate-errors in this browser only)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    directory = pathlib.Path(tempfile.mkdtemp(prefix="courier-tiles-"))
    tiles = TileServer(directory)
    options = chromium_options("--ignore-certificate-errors",
                               f"--host-resolver-rules=MAP tile.openstreetmap.org:443 127.0.0.1:{tiles.port}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.shot = lambda name: driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}-{name}.png"))
    driver.tiles = tiles
    try:
        yield driver
    finally:
        try:
            driver.shot("end")
        finally:
            driver.quit()
            tiles.stop()


def test_the_map_draws_tiles_when_it_can_load_them(courier, tile_browser):
    browser = tile_browser
    log_in_as_admin(browser, courier)
    wait(browser, lambda d: d.find_element(By.ID, "live-map").get_attribute("data-basemap") == "tiles",
         "the map did not draw the tiles it could load")
    assert "OpenStreetMap" in browser.find_element(By.ID, "map-attribution").text

    def view(driver):
        box = driver.find_element(By.ID, "live-map")
        latitude, longitude = (float(part) for part in box.get_attribute("data-center").split(","))
        return float(box.get_attribute("data-zoom")), latitude, longitude

    # Zoomed out all the way (zoom 1, a 512 px world in a wider box) the four tiles of level 1 are
    # all on screen, wherever the view was centred (earlier tests may have left deliverers to fit).
    canvas = browser.find_element(By.ID, "live-map-canvas")
    while (before := view(browser)[0]) > 1:
        canvas.send_keys("-")
        wait(browser, lambda d: view(d)[0] < before, "the minus key did not zoom out")
    wait(browser, lambda d: {(1, x, y) for x in range(2) for y in range(2)} <= set(d.tiles.requests),
         "the level 1 tiles were not asked for")

    # Zooming in with the button asks for level 3 tiles, the centre's among them.
    browser.find_element(By.ID, "map-zoom-in").click()
    browser.find_element(By.ID, "map-zoom-in").click()
    wait(browser, lambda d: view(d)[0] == 3, "the zoom buttons did not zoom in")
    _, latitude, longitude = view(browser)
    x = (longitude + 180) / 360
    sine = math.sin(math.radians(latitude))
    y = 0.5 - math.log((1 + sine) / (1 - sine)) / (4 * math.pi)
    centre_tile = (3, int(x * 8), int(y * 8))
    wait(browser, lambda d: centre_tile in d.tiles.requests, f"the centre's tile {centre_tile} was not asked for")
    assert all(0 <= x < 2 ** z and 0 <= y < 2 ** z for z, x, y in browser.tiles.requests)
    assert browser.find_element(By.ID, "live-map").get_attribute("data-basemap") == "tiles"
    browser.shot("tiles")


def test_the_live_view_reconnects_when_hermes_restarts(courier, admin, new_user, browser):
    """Hermes goes away under an open stream and comes back on other ports behind the same nginx: the
    live view retries with backoff, reconnects by itself and shows the next fix."""
    rider, email, password = new_user("Rene Restart")
    user_id = rider.principal["userId"]
    admin.call("PUT", f"/user/admin/users/{user_id}/roles", {"roles": ["ROLE_USER", "ROLE_DELIVERER"]})
    deliverer_id = admin.call("POST", "/tracking/admin/deliverers", {
        "userId": user_id, "displayName": "Rene Restart", "vehicle": {"kind": "VEHICLE_KIND_VAN"}})["deliverer"]["delivererId"]
    rider.login(email, password)
    now = datetime.datetime.now(datetime.timezone.utc)

    def report(latitude, longitude, recorded_at):
        answer = rider.call("POST", "/tracking/deliverer/location", {"location": {
            "point": {"latitude": latitude, "longitude": longitude}, "recordedAt": rfc3339(recorded_at)}})
        assert answer.get("accepted") is True, answer

    report(48.8566, 2.3522, now - datetime.timedelta(seconds=30))
    log_in_as_admin(browser, courier)
    state = visible(browser, "#live-state")
    row_css = f"tr[data-testid=live-row][data-deliverer-id='{deliverer_id}']"
    wait(browser, lambda d: "48.85660°N" in d.find_element(By.CSS_SELECTOR, row_css).text, "the first fix is missing")
    assert state.get_attribute("data-connections") == "1"
    browser.execute_script("window.__sameDocument = true;")

    hermes = courier.services["hermes"]
    hermes.stop()
    wait(browser, lambda d: d.find_element(By.ID, "live-state").get_attribute("data-state") == "retrying",
         "the live view did not notice that Hermes went away")
    assert browser.find_element(By.ID, "live-error").is_displayed()
    browser.shot("hermes-away")
    hermes.start()
    courier.nginx.upstreams["HERMES_HTTP"] = f"127.0.0.1:{hermes.http_port}"
    courier.nginx.upstreams["HERMES_GRPC"] = hermes.grpc
    courier.nginx.reload()

    wait(browser, lambda d: d.find_element(By.ID, "live-state").get_attribute("data-connections") == "2",
         "the live view did not reconnect", timeout=90)
    report(48.8570, 2.3530, now)
    wait(browser, lambda d: "48.85700°N" in d.find_element(By.CSS_SELECTOR, row_css).text,
         "the fix after the reconnect did not show")
    assert not browser.find_element(By.ID, "live-error").is_displayed()
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was reloaded"
    browser.shot("reconnected")
