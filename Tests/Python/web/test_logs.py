"""What the whole stack writes to its logs, after a session that handles every kind of secret: every
service line is one JSON object with the fields the log pipeline indexes (deploy/monitoring), and no
password, access or refresh token, recovery token or link, or mail body appears in any log, the
ingress's access log included.
"""

import json
import re
import time

from courier_web import Api

REQUIRED = ("time", "level", "service", "message")


def all_logs(courier):
    """{path: text} of every log the stack wrote: the services' and nginx's."""
    paths = sorted((courier.var / "logs").glob("*.log")) + sorted((courier.var / "nginx").glob("*.log"))
    return {path: path.read_text(errors="replace") for path in paths}


def mail_drop_text(admin, recipient, subject_part):
    """The text part of a mail to `recipient` in the drop whose subject contains `subject_part`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for entry in admin.call("GET", "/notifications/admin/mail-drop").get("entries", []):
            if (entry.get("recipient", {}).get("address") == recipient
                    and subject_part.lower() in entry.get("subject", "").lower()):
                return admin.call("GET", f"/notifications/admin/mail-drop/{entry['messageId']}")["message"]["text"]
        time.sleep(0.2)
    raise AssertionError(f"no mail to {recipient} with '{subject_part}' in its subject reached the mail drop")


def test_logs_are_json_lines_and_never_carry_secrets(courier, admin, new_user, world):
    # A session touching every secret: sign-up and login (password, tokens), a token refresh,
    # password recovery (mailed link and token, new password), a fix that mails the subscriber.
    user, email, password = new_user("Sally Secret")
    refreshed = Api(courier.web_url).call("POST", "/auth/login", {"email": email, "password": password})
    refresh_token = refreshed["tokens"]["refreshToken"]
    renewed = Api(courier.web_url).call("POST", "/auth/refresh", {"refreshToken": refresh_token})
    Api(courier.web_url).call("POST", "/user/recover", {"email": email})
    recovery = mail_drop_text(admin, email, "password")
    link = re.search(r"https?://\S+/app/recover\?token=([^\s<>\"]+)", recovery)
    assert link, recovery
    new_password = "a brand new pass phrase 9"
    Api(courier.web_url).call("PUT", "/user/recover", {"token": link.group(1), "newPassword": new_password})
    first_token = user.token
    user = Api(courier.web_url).login(email, new_password)  # the reset ended every earlier session
    # A page load with the recovery link, as the person's browser makes it (nginx logs the path only).
    Api(courier.web_url).call("GET", f"/app/recover?token={link.group(1)}", expect=200)

    deliverer_id, device = world.deliverer("Dora Device")
    payload = world.payload("Secret parcel", user.principal["userId"], deliverer_id)
    user.call("POST", f"/tracking/payload/{payload['trackingCode']}", {"title": "mine"})
    world.report(device, 48.1, 11.5)
    tracking_mail = mail_drop_text(admin, email, "mine:")
    welcome = mail_drop_text(admin, email, "welcome")

    secrets = {
        "the first password": password,
        "the new password": new_password,
        "an access token": first_token,
        "the access token after the reset": user.token,
        "a refreshed access token": renewed["tokens"]["accessToken"],
        "a refresh token": refresh_token,
        "the renewed refresh token": renewed["tokens"]["refreshToken"],
        "the recovery token": link.group(1),
        "the admin's password": courier.admin_password,
        "the deliverer's token": device.token,
    }
    # Mail bodies: their longest lines, which are the person's text rather than boilerplate.
    for name, body in (("the recovery mail", recovery), ("the tracking mail", tracking_mail), ("the welcome mail", welcome)):
        lines = sorted((line.strip() for line in body.splitlines() if len(line.strip()) > 30), key=len)
        assert lines, f"{name} has no text to look for"
        secrets[f"a line of {name}"] = lines[-1]

    logs = all_logs(courier)
    assert {path.name for path in logs} >= {"asgardian.log", "iris.log", "hermes.log", "access.log"}, list(logs)
    for path, text in logs.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} appears in {path}"

    for name in ("asgardian", "iris", "hermes"):
        text = logs[courier.var / "logs" / f"{name}.log"]
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) > 5, f"{name} logged almost nothing"
        for line in lines:
            entry = json.loads(line)  # every line is one JSON object
            missing = [field for field in REQUIRED if field not in entry]
            assert not missing, f"{name} logged a line without {missing}: {line[:300]}"
            assert entry["service"] == name
        assert any("request_id" in json.loads(line) for line in lines), f"{name} logged no request id"
    for line in logs[courier.var / "nginx" / "access.log"].splitlines():
        entry = json.loads(line)
        assert entry["service"] == "ingress" and entry["request_id"], line[:300]
