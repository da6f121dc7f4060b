"""The user client (web/user-client, served at /app/) in headless Chromium against the whole stack.

What a person does and sees:
- signs up in the browser, follows stuff by tracking code, and watches its position change on the
  page as the deliverer reports fixes (no reload: a marker set in the page survives), with the map
  drawn, the timeline growing and the live notification listed; downloads the receipt (a PDF);
  opens the tracking page from a mail's link; stops following;
- logs in from the keyboard, keeps working when the access token is refused (one refresh), edits the
  profile, logs out; recovers a password through the mailed link;
- asks for push notifications: without a push service the page says so; a push message handed to
  the service worker is shown as a notification and listed on the open page, where a newer one
  with the same tag replaces it.

Bad input shows the service's own message (compared with what the same REST call answers): a
wrong password, a sign-up with a short password, an unknown tracking code, a used reset token.
"""

import base64
import json
import re
import time
import urllib.parse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import Api

WAIT = 30


def wait_for(browser, check, what, timeout=WAIT):
    """Polls `check(browser)` until it returns something truthy, which it returns."""
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda driver: check(driver))
    except Exception:
        browser.shot("timeout")
        pytest.fail(f"timed out waiting for {what}; page at {browser.current_url}")


def by_id(browser, element_id):
    return browser.find_element(By.ID, element_id)


def open_app(browser, courier, path="/app/"):
    browser.get(courier.web_url + path)
    wait_for(browser, lambda b: b.execute_script("return document.documentElement.dataset.ready === 'true'"),
             "the app to start")


def fill(browser, values):
    for element_id, value in values.items():
        field = by_id(browser, element_id)
        field.clear()
        field.send_keys(value)


def shown_text(browser, element_id):
    """The element's text once it is shown, else an empty string."""
    element = by_id(browser, element_id)
    return element.text if element.is_displayed() else ""


def wait_for_view(browser, title):
    wait_for(browser, lambda b: b.title == f"{title} · Courier", f"the page '{title}'")


def card(browser, code, scope="#payload-list"):
    found = browser.find_elements(By.CSS_SELECTOR, f"{scope} [data-testid=payload-card][data-code='{code}']")
    return found[0] if found else None


def card_part(browser, code, part, scope="#payload-list"):
    element = card(browser, code, scope)
    return element.find_element(By.CSS_SELECTOR, f"[data-testid={part}]") if element else None


def sign_up_in_browser(browser, courier, name):
    email = f"web-{time.time_ns()}@courier.test"
    password = "a fine long password 9"
    open_app(browser, courier)
    wait_for_view(browser, "Log in")  # a guest is sent to the login page
    by_id(browser, "to-signup").click()
    wait_for_view(browser, "Create an account")
    fill(browser, {"signup-name": name, "signup-email": email, "signup-password": password})
    by_id(browser, "signup-submit").click()
    wait_for_view(browser, "My payloads")
    return email, password


def log_in(browser, courier, email, password):
    open_app(browser, courier, "/app/login")
    fill(browser, {"login-email": email, "login-password": password})
    by_id(browser, "login-submit").click()
    wait_for_view(browser, "My payloads")


def user_id_of(admin, email):
    users = admin.call("GET", "/user/admin/users?" + urllib.parse.urlencode({"query": email}))["users"]
    assert [user["email"] for user in users] == [email]
    return users[0]["userId"]


def unknown_code(known):
    """A well-formed tracking code that is not `known` (Crockford base32, 12 characters)."""
    code = "Z" * 12
    return code if code != known else "Y" * 12


def test_sign_up_follow_and_watch_the_position_move_live(courier, admin, world, new_user, browser, tmp_path):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    email, password = sign_up_in_browser(browser, courier, "Wanda Watcher")
    assert by_id(browser, "user-name").text == "Wanda Watcher"
    assert by_id(browser, "payloads-empty").is_displayed()
    browser.shot("signed-up")

    user_id = user_id_of(admin, email)
    deliverer_id, deliverer = world.deliverer("Dana Deliverer")
    payload = world.payload("Blue bicycle", user_id, deliverer_id)
    code = payload["trackingCode"]

    # An unknown code: the page shows what Hermes answers.
    wrong = unknown_code(code)
    someone, _, _ = new_user("Someone Else")
    expected = someone.call("POST", f"/tracking/payload/{wrong}", {"title": "Nothing"}, expect=404)["message"]
    fill(browser, {"subscribe-code": wrong, "subscribe-title": "Nothing"})
    by_id(browser, "subscribe-submit").click()
    assert wait_for(browser, lambda b: shown_text(b, "subscribe-error"), "the unknown code's error") == expected
    browser.shot("unknown-code")

    # Follow the real one, typed as people copy codes: lowercase, in two groups.
    fill(browser, {"subscribe-code": f"{code[:6].lower()}-{code[6:].lower()}", "subscribe-title": "My bike"})
    by_id(browser, "subscribe-submit").click()
    wait_for(browser, lambda b: card(b, code), "the followed payload's card")
    assert not by_id(browser, "subscribe-error").is_displayed()
    assert card_part(browser, code, "payload-title").text == "My bike"
    assert card_part(browser, code, "payload-status").text == "Picked up"
    assert card_part(browser, code, "payload-position").text == "none yet"
    assert card_part(browser, code, "payload-map").get_attribute("data-mode") == "empty"
    wait_for(browser, lambda b: by_id(b, "live-status").get_attribute("data-state") == "open", "the live stream")

    # A marker in the page: a reload would lose it.
    browser.execute_script("window.courierTestMarker = 'still here';")

    answer = world.report(deliverer, 52.52, 13.405)
    assert answer["accepted"] is True and answer["movedPayloadCount"] == 1, answer
    wait_for(browser, lambda b: card_part(b, code, "payload-position").text == "52.52000, 13.40500",
             "the first position on the page")
    canvas = card_part(browser, code, "payload-map")
    assert canvas.get_attribute("data-mode") in ("grid", "tiles")  # offline: the labelled grid
    assert "latitude 52.52000, longitude 13.40500" in canvas.get_attribute("aria-label")
    browser.shot("first-position")

    # Two minutes later, about 1.3 km on: the page follows, the timeline keeps both fixes.
    answer = world.report(deliverer, 52.53, 13.415, seconds_later=120)
    assert answer["accepted"] is True, answer
    wait_for(browser, lambda b: card_part(b, code, "payload-position").text == "52.53000, 13.41500",
             "the second position on the page")
    assert browser.execute_script("return window.courierTestMarker") == "still here"
    entries = card_part(browser, code, "payload-timeline").find_elements(By.CSS_SELECTOR, "li[data-kind=position]")
    assert [entry.text.split(" at ")[-1] for entry in entries] == ["52.53000, 13.41500 (±5 m)", "52.52000, 13.40500 (±5 m)"]
    assert "latitude 52.53000, longitude 13.41500" in canvas.get_attribute("aria-label")
    browser.shot("moved")

    # Hermes pushed through Iris; the open page lists it from the live notification stream.
    notification = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=notification]"),
                            "a live notification")[0]
    assert "My bike: picked up" in notification.text
    link = notification.find_element(By.TAG_NAME, "a").get_attribute("href")
    assert link.endswith(f"/app/tracking?code={code}")

    # The receipt: the recipient may download it. It is rendered a few seconds after registration;
    # until then Hermes answers UNAVAILABLE and the page shows that, so ask again.
    def receipt_saved(b):
        message = card_part(b, code, "payload-message")
        if message.is_displayed() and message.text.startswith("Saved "):
            return message.text
        button = card_part(b, code, "payload-receipt")
        if card_part(b, code, "payload-error").is_displayed() and button.is_enabled():
            button.click()
        return None

    card_part(browser, code, "payload-receipt").click()
    saved = wait_for(browser, receipt_saved, "the receipt")
    assert saved.startswith(f"Saved receipt-{code}.pdf")
    pdf = wait_for(browser, lambda b: [p for p in tmp_path.glob("*.pdf") if p.stat().st_size > 0], "the PDF file")[0]
    assert pdf.name == f"receipt-{code}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    rest = Api(courier.web_url).login(email, password)
    assert base64.b64decode(rest.call("GET", f"/tracking/payload/{code}/receipt")["content"]) == pdf.read_bytes()

    # The link from a mail opens the payload's own page with what is known so far.
    open_app(browser, courier, f"/app/tracking?code={code}")
    wait_for(browser, lambda b: card_part(b, code, "payload-position", "#tracking-card") is not None
             and card_part(b, code, "payload-position", "#tracking-card").text == "52.53000, 13.41500",
             "the tracking page's card")
    assert by_id(browser, "tracking-heading").text == "My bike"
    # The timeline this browser saw survives the new page load.
    entries = card_part(browser, code, "payload-timeline", "#tracking-card").find_elements(
        By.CSS_SELECTOR, "li[data-kind=position]")
    assert len(entries) == 2, [entry.text for entry in entries]
    browser.shot("tracking-page")

    # A phone-sized window: nothing sticks out sideways.
    browser.set_window_size(360, 800)
    wait_for(browser, lambda b: b.execute_script("return window.innerWidth") <= 400, "the narrow window")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    browser.shot("tracking-page-360px")

    # Stop following: the card goes, the page offers to follow again, Hermes agrees.
    card_part(browser, code, "payload-unsubscribe", "#tracking-card").click()
    wait_for(browser, lambda b: by_id(b, "tracking-subscribe-form").is_displayed(), "the follow-again form")
    assert card(browser, code, "#tracking-card") is None
    assert rest.call("GET", "/tracking/payload").get("subscriptions", []) == []


def test_login_errors_profile_and_logout(courier, new_user, browser):
    _, email, password = new_user("Paula Profile")

    # Wrong password: Asgardian's own message.
    expected = Api(courier.web_url).call("POST", "/auth/login", {"email": email, "password": "not the password"},
                                         expect=401)["message"]
    open_app(browser, courier, "/app/profile")
    wait_for_view(browser, "Log in")
    assert "next=%2Fapp%2Fprofile" in browser.current_url
    fill(browser, {"login-email": email, "login-password": "not the password"})
    by_id(browser, "login-submit").click()
    assert wait_for(browser, lambda b: shown_text(b, "login-error"), "the login error") == expected
    browser.shot("wrong-password")

    # The right one, submitted from the keyboard, leads to the page that was asked for.
    fill(browser, {"login-password": password})
    by_id(browser, "login-password").send_keys(Keys.ENTER)
    wait_for_view(browser, "Profile")
    wait_for(browser, lambda b: by_id(b, "profile-email").get_attribute("value") == email, "the profile")

    # An access token the server refuses: the page renews it with the refresh token once and carries on.
    browser.execute_script("""
        const session = JSON.parse(localStorage.getItem('courier.session'));
        session.tokens.accessToken = 'not-a-token';
        localStorage.setItem('courier.session', JSON.stringify(session));""")
    open_app(browser, courier, "/app/profile")
    wait_for(browser, lambda b: by_id(b, "profile-email").get_attribute("value") == email, "the profile after a refresh")
    assert not by_id(browser, "profile-error").is_displayed()
    renewed = browser.execute_script("return JSON.parse(localStorage.getItem('courier.session')).tokens.accessToken")
    assert renewed != "not-a-token"
    assert by_id(browser, "profile-name").get_attribute("value") == "Paula Profile"
    assert by_id(browser, "profile-push").is_selected() and by_id(browser, "profile-mail").is_selected()

    # A bad phone number: the service names the field; nothing changes.
    fill(browser, {"profile-phone": "0123"})
    by_id(browser, "profile-save").click()
    error = wait_for(browser, lambda b: shown_text(b, "profile-error"), "the phone number's error")
    assert "phone" in error.lower()

    fill(browser, {"profile-name": "Paula P.", "profile-phone": "+4915123456789"})
    by_id(browser, "profile-mail").click()  # no more tracking mail
    by_id(browser, "profile-save").click()
    wait_for(browser, lambda b: shown_text(b, "profile-message") == "Your profile is saved.", "the saved profile")
    assert not by_id(browser, "profile-error").is_displayed()
    assert by_id(browser, "user-name").text == "Paula P."
    stored = Api(courier.web_url).login(email, password).call("GET", "/user/profile")["user"]
    assert stored["displayName"] == "Paula P." and stored["phoneNumber"] == "+4915123456789"
    assert not stored["notificationPreferences"].get("trackingMailEnabled", False)
    assert stored["notificationPreferences"]["trackingPushEnabled"] is True
    browser.shot("profile-saved")

    # Log out: back to the login page, and the session's token no longer works.
    token = browser.execute_script("return JSON.parse(localStorage.getItem('courier.session')).tokens.accessToken")
    by_id(browser, "logout-button").click()
    wait_for_view(browser, "Log in")
    assert shown_text(browser, "flash") == "You are logged out."
    assert not by_id(browser, "nav").is_displayed()
    Api(courier.web_url, token).call("GET", "/user/profile", expect=401)
    open_app(browser, courier, "/app/")
    wait_for_view(browser, "Log in")


def test_sign_up_error_and_password_recovery(courier, admin, new_user, browser):
    # A short password: the service's message, and no account.
    open_app(browser, courier, "/app/signup")
    fill(browser, {"signup-name": "Rita Recover", "signup-email": f"short-{time.time_ns()}@courier.test",
                   "signup-password": "short"})
    by_id(browser, "signup-submit").click()
    error = wait_for(browser, lambda b: shown_text(b, "signup-error"), "the sign-up error")
    assert "password" in error and "8" in error, error
    assert browser.title == "Create an account · Courier"

    _, email, old_password = new_user("Rita Recover")
    open_app(browser, courier, "/app/forgot")
    fill(browser, {"forgot-email": email})
    by_id(browser, "forgot-submit").click()
    wait_for(browser, lambda b: shown_text(b, "forgot-message").startswith("If an account uses this address"),
             "the recovery answer")

    # The mail in the local mail drop carries the link to the reset page.
    def reset_link(_):
        entries = admin.call("GET", "/notifications/admin/mail-drop").get("entries", [])
        for entry in entries:
            if entry["recipient"]["address"] == email and entry["subject"] and "welcome" not in entry["subject"].lower():
                text = admin.call("GET", f"/notifications/admin/mail-drop/{entry['messageId']}")["message"]["text"]
                found = re.search(r"https?://\S+/app/recover\?token=[^\s<>\"]+", text)
                if found:
                    return found.group(0)
        return None

    link = wait_for(browser, reset_link, "the recovery mail")
    parsed = urllib.parse.urlsplit(link)
    open_app(browser, courier, f"{parsed.path}?{parsed.query}")
    wait_for_view(browser, "Choose a new password")
    fill(browser, {"recover-password": "the new password 77", "recover-password2": "the new password 76"})
    by_id(browser, "recover-submit").click()
    assert wait_for(browser, lambda b: shown_text(b, "recover-error"), "the mismatch") == "The two passwords differ."
    fill(browser, {"recover-password2": "the new password 77"})
    by_id(browser, "recover-submit").click()
    wait_for_view(browser, "Log in")
    assert shown_text(browser, "flash") == "Your password is changed. Log in with the new one."
    browser.shot("password-reset")

    # The token is single-use: the service's message on a second try.
    token = urllib.parse.parse_qs(parsed.query)["token"][0]
    expected = Api(courier.web_url).call("PUT", "/user/recover", {"token": token, "newPassword": "another one 123"},
                                         expect=401)["message"]
    open_app(browser, courier, f"{parsed.path}?{parsed.query}")
    fill(browser, {"recover-password": "another one 123", "recover-password2": "another one 123"})
    by_id(browser, "recover-submit").click()
    assert wait_for(browser, lambda b: shown_text(b, "recover-error"), "the used token's error") == expected

    # The new password works in the browser, the old one no longer does.
    Api(courier.web_url).call("POST", "/auth/login", {"email": email, "password": old_password}, expect=401)
    open_app(browser, courier, "/app/login")
    fill(browser, {"login-email": email, "login-password": "the new password 77"})
    by_id(browser, "login-submit").click()
    wait_for_view(browser, "My payloads")


def test_push_without_a_push_service_says_so(courier, new_user, browser):
    _, email, password = new_user("Pia Push")
    log_in(browser, courier, email, password)
    wait_for(browser, lambda b: by_id(b, "push-status").get_attribute("data-state") == "off", "the push state")
    assert by_id(browser, "push-status").text == "Push notifications are off for this browser."

    # The permission is granted as a person would; the test machine has no push service.
    origin = courier.web_url
    browser.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["notifications"], "origin": origin})
    by_id(browser, "push-enable").click()
    state = wait_for(browser, lambda b: by_id(b, "push-status").get_attribute("data-state") in ("failed", "on")
                     and by_id(b, "push-status").get_attribute("data-state"), "the push outcome")
    text = by_id(browser, "push-status").text
    browser.shot("push")
    if state == "failed":
        assert text.startswith("Push notifications are not available: This browser could not reach its push service"), text
        assert by_id(browser, "push-enable").is_enabled()
    else:  # a machine with a push service: the subscription is registered with Iris
        listed = Api(courier.web_url).login(email, password).call("GET", "/notifications/push/subscriptions")
        assert len(listed["subscriptions"]) == 1

    # A push message as Iris sends it, handed to the service worker by DevTools (no push service
    # needed): the worker shows it as a notification and the open page lists it.
    message = {"notificationId": "3f0c8a52-6f0e-4d1e-9a37-2b1f4c1d9e01", "title": "Parcel: in transit",
               "body": "Your delivery ABCDEFGHJKMN has moved.", "url": "/app/tracking?code=ABCDEFGHJKMN",
               "tag": "payload:ABCDEFGHJKMN"}
    browser.set_script_timeout(30)
    notifications = """
        const done = arguments[arguments.length - 1];
        navigator.serviceWorker.ready.then((r) => r.getNotifications())
          .then((all) => done(all.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))),
                (error) => done(String(error)));"""
    assert browser.execute_async_script(notifications) == []  # the worker is active, nothing shown yet
    browser.execute_cdp_cmd("ServiceWorker.enable", {})
    shown = []
    # DevTools names the worker by registration id, which only its events tell; a fresh profile's one
    # registration is usually "0". An id that is not the worker's shows nothing: try the next.
    for registration_id in ("0", "1", "2", "3"):
        try:
            browser.execute_cdp_cmd("ServiceWorker.deliverPushMessage", {
                "origin": origin, "registrationId": registration_id, "data": json.dumps(message)})
        except Exception:  # noqa: BLE001 - no such registration
            continue
        try:
            shown = WebDriverWait(browser, 10, poll_frequency=0.2).until(
                lambda b: b.execute_async_script(notifications))
            break
        except Exception:  # noqa: BLE001 - nothing shown for this id
            continue
    assert shown == [{"title": message["title"], "body": message["body"], "tag": message["tag"],
                      "data": {"url": message["url"], "notificationId": message["notificationId"]}}], \
        (shown, browser.get_log("browser"))
    listed = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=notification]"),
                      "the push in the page's list")
    assert listed[0].text.startswith("Parcel: in transit\nYour delivery ABCDEFGHJKMN has moved.")
    browser.shot("push-shown")

    # A newer message with the same tag replaces the older one, in the page's list too.
    newer = {**message, "notificationId": "9d2b7c3e-1a4f-4b8e-8c6d-5e7f9a0b1c2d", "title": "Parcel: delivered"}
    browser.execute_cdp_cmd("ServiceWorker.deliverPushMessage", {
        "origin": origin, "registrationId": registration_id, "data": json.dumps(newer)})
    wait_for(browser, lambda b: [item.text.split("\n")[0] for item in
                                 b.find_elements(By.CSS_SELECTOR, "[data-testid=notification]")] == ["Parcel: delivered"],
             "the newer notification in place of the older")


def test_live_positions_come_back_after_hermes_restarts(courier, world, new_user, browser):
    """The page's position stream breaks when Hermes goes away; it says so, retries with backoff,
    and picks up the next fix once Hermes is back, still without a reload."""
    user, email, password = new_user("Rhea Restart")
    deliverer_id, deliverer = world.deliverer("Rudi Restart")
    code = world.payload("Parcel", user.principal["userId"], deliverer_id)["trackingCode"]
    user.call("POST", f"/tracking/payload/{code}", {"title": "Parcel"})
    log_in(browser, courier, email, password)
    wait_for(browser, lambda b: card(b, code), "the card")
    wait_for(browser, lambda b: by_id(b, "live-status").get_attribute("data-state") == "open", "the live stream")
    browser.execute_script("window.courierTestMarker = 'still here';")

    hermes = courier.services["hermes"]
    hermes.stop()
    wait_for(browser, lambda b: by_id(b, "live-status").get_attribute("data-state") == "retrying",
             "the page to notice the lost stream")
    assert by_id(browser, "live-status").text.startswith("Live updates: connection lost")
    browser.shot("stream-lost")

    hermes.start()
    courier.nginx.upstreams["HERMES_HTTP"] = f"127.0.0.1:{hermes.http_port}"
    courier.nginx.upstreams["HERMES_GRPC"] = hermes.grpc
    courier.nginx.reload()
    wait_for(browser, lambda b: by_id(b, "live-status").get_attribute("data-state") == "open",
             "the stream to come back", timeout=90)

    answer = world.report(deliverer, 48.8566, 2.3522)
    assert answer["accepted"] is True and answer["movedPayloadCount"] == 1, answer
    wait_for(browser, lambda b: card_part(b, code, "payload-position").text == "48.85660, 2.35220",
             "the position after the restart", timeout=90)
    assert browser.execute_script("return window.courierTestMarker") == "still here"
    browser.shot("stream-back")


def test_event_stream_parser_and_map_projection_in_the_browser(courier, browser):
    """The app's own modules, loaded as the page loads them: the SSE parser gives the same events
    whichever way the bytes are cut into chunks; the map's Web Mercator maths round-trips, and the
    map draws tiles when they load and its grid when they do not."""
    open_app(browser, courier, "/app/login")
    browser.set_script_timeout(30)
    result = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const { EventStreamParser } = await import('/app/js/sse.js');
          const { project, unproject } = await import('/app/js/map.js');
          const text = ': keep-alive\\r\\n\\r\\ndata: {"a":1}\\r\\n\\r\\nevent: error\\ndata: {"code":"X"}\\n\\n'
            + 'data: line1\\ndata:line2\\n\\n: bye\\n\\n';
          const cuts = [];
          for (let size = 1; size <= text.length; size += 1) {
            const events = [];
            const parser = new EventStreamParser((event, data) => events.push([event, data]));
            for (let at = 0; at < text.length; at += size) parser.push(text.slice(at, at + size));
            cuts.push(JSON.stringify(events));
          }
          // Tiles that load are drawn (mode "tiles", attribution shown); tiles that fail leave the
          // labelled grid (mode "grid"). Same-origin images stand in for the tile server here.
          const { PositionMap, TileCache } = await import('/app/js/map.js');
          const drawn = async (urlFor) => {
            const canvas = document.createElement('canvas');
            canvas.style.width = '300px';
            canvas.style.height = '180px';
            const attribution = document.createElement('p');
            attribution.hidden = true;
            document.body.append(canvas, attribution);
            const map = new PositionMap(canvas, { tiles: new TileCache({ urlFor }), attribution });
            map.show({ lat: 52.52, lon: 13.405 }, []);
            for (let i = 0; i < 100 && canvas.dataset.mode !== 'tiles'; i += 1) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
            map.destroy();
            return [canvas.dataset.mode, attribution.hidden];
          };
          const tiles = await drawn(() => '/app/favicon.svg');
          const grid = await drawn((z, x, y) => `/app/no-such-tile/${z}/${x}/${y}.png`);
          const there = project(52.52, 13.405, 14);
          const back = unproject(there.x, there.y, 14);
          return {
            distinct: [...new Set(cuts)],
            origin: project(0, 0, 0),
            corner: project(85.05112878, -180, 1),
            back,
            tiles,
            grid,
          };
        })().then(done, (error) => done({ error: String(error) }));
    """)
    assert "error" not in result, result
    assert result["distinct"] == ['[["message","{\\"a\\":1}"],["error","{\\"code\\":\\"X\\"}"],["message","line1\\nline2"]]']
    assert result["origin"] == {"x": 128, "y": 128}
    assert abs(result["corner"]["x"]) < 1e-9 and abs(result["corner"]["y"]) < 1e-6
    assert abs(result["back"]["lat"] - 52.52) < 1e-9 and abs(result["back"]["lon"] - 13.405) < 1e-9
    assert result["tiles"] == ["tiles", False]
    assert result["grid"] == ["grid", True]
