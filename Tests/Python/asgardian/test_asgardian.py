"""Asgardian end to end (issue 8, "How it is checked"): the real `courier asgardian` and `courier iris`
processes against real servers on loopback.

- Postgres: a throwaway cluster; Asgardian's database holds the `asgardian` and `event_source` schemas,
  read back here with psql (users, recovery tokens, events and their `processed` flag).
- Tansu: the broker that carries `UserCreated` from Asgardian's relay to its welcome-mail consumer.
- Iris: mails over SMTP (`IRIS_MAIL_TRANSPORT=smtp`) to aiosmtpd (support/smtp_server.py); Python's
  `email` package reads what arrived. Iris checks tokens through Asgardian's `IsAuthenticated`, and
  Asgardian mails through Iris' `SendMail`.

Every REST request carries its own `X-Forwarded-For` address (Asgardian believes loopback proxies), so
the per-address limits of sign-up, login and recovery never leak from one test into another; the
per-account login limit is tested with one account from many addresses.
"""

import base64
import email
import email.policy
import json
import re
import time
import uuid

import grpc
import pytest
import requests
from courier_fixtures import (ADMIN_EMAIL, ADMIN_PASSWORD, eventually, received_mail, stack, start_iris)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DATABASE = "asgardian_db"
PASSWORD = "a long and secret pass phrase"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def iris(pg, workdir, asgardian, smtp, iris_grpc_port):
    service = start_iris(pg, workdir, asgardian, "main", IRIS_GRPC_PORT=str(iris_grpc_port),
                         IRIS_MAIL_TRANSPORT="smtp", IRIS_SMTP_PORT=str(smtp.port), IRIS_SMTP_SECURITY="none")
    yield service
    assert service.stop() == 0, f"iris did not stop cleanly{stack.tail(service.log)}"


@pytest.fixture(scope="module")
def identity(asgardian, pb):
    channel = grpc.insecure_channel(asgardian.grpc)
    yield pb.asgardian_grpc.IdentityServiceStub(channel)
    channel.close()


@pytest.fixture(scope="module")
def accounts_grpc(asgardian, pb):
    channel = grpc.insecure_channel(asgardian.grpc)
    yield pb.asgardian_grpc.AccountServiceStub(channel), pb.asgardian_grpc.UserAdminServiceStub(channel)
    channel.close()


def client_address():
    """A fresh client address for X-Forwarded-For (TEST-NET-2 and -3 plus 10/8: never a real peer)."""
    value = uuid.uuid4().int
    return f"10.{value % 256}.{(value >> 8) % 256}.{(value >> 16) % 254 + 1}"


def call(service, method, path, token=None, client=None, **kwargs):
    """One REST request to `service` (Asgardian or Iris) from its own client address."""
    headers = {"X-Forwarded-For": client or client_address(), **kwargs.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{service.http}{path}", headers=headers, timeout=30, **kwargs)


def sql(pg, statement):
    return pg.psql(statement, database=DATABASE).strip()


def new_address(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@courier.test"


class Account:
    """A signed-up user with its tokens."""

    def __init__(self, asgardian, prefix="user", name="Ada Lovelace", password=PASSWORD):
        self.email = new_address(prefix)
        self.password = password
        response = call(asgardian, "POST", "/auth/signup",
                        json={"email": self.email, "password": password, "displayName": name})
        assert response.status_code == 200, response.text
        body = response.json()
        self.user_id = body["user"]["userId"]
        self.access = body["tokens"]["accessToken"]
        self.refresh = body["tokens"]["refreshToken"]
        self.asgardian = asgardian

    def login(self):
        response = call(self.asgardian, "POST", "/auth/login", json={"email": self.email, "password": self.password})
        assert response.status_code == 200, response.text
        self.access = response.json()["tokens"]["accessToken"]
        self.refresh = response.json()["tokens"]["refreshToken"]
        return self.access


@pytest.fixture(scope="module")
def admin(asgardian):
    response = call(asgardian, "POST", "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["tokens"]["accessToken"]


def make_deliverer(asgardian, admin_token):
    account = Account(asgardian, "deliverer", "Dana Driver")
    response = call(asgardian, "PUT", f"/user/admin/users/{account.user_id}/roles", admin_token,
                    json={"roles": ["ROLE_USER", "ROLE_DELIVERER"]})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["roles"] == ["ROLE_USER", "ROLE_DELIVERER"]
    account.login()
    return account


def mails_to(maildir, address):
    """The parsed mails at the SMTP server whose envelope names `address`."""
    found = []
    for path in received_mail(maildir):
        envelope = json.loads(path.with_suffix(".json").read_text())
        if address in envelope["rcpt_tos"]:
            found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
    return found


def text_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def assert_error(response, status, code, *fragments):
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == code, body
    for fragment in fragments:
        assert fragment in body["message"], body


def user_row(pg, user_id):
    return sql(pg, f"SELECT email, display_name, phone_number, roles, disabled, deleted, password_hash "
                   f"FROM asgardian.user_rows WHERE id = '{user_id}'")


def counts(pg):
    """How many users, events, sessions, refresh and recovery tokens are stored: a refused request
    changes none."""
    return sql(pg, "SELECT (SELECT count(*) FROM asgardian.users), (SELECT count(*) FROM event_source.events), "
                   "(SELECT count(*) FROM asgardian.sessions), (SELECT count(*) FROM asgardian.refresh_tokens), "
                   "(SELECT count(*) FROM asgardian.recovery_tokens)")


# --------------------------------------------------------------------------- sign-up and the welcome mail


def test_signup_emits_user_created_which_is_processed_and_mails_welcome(asgardian, iris, admin, pg, smtp):
    address = new_address("welcome")
    response = call(asgardian, "POST", "/auth/signup", json={
        "email": f"  {address} ", "password": PASSWORD, "displayName": "Grace <Hopper>", "phoneNumber": "+4915123456789"})
    assert response.status_code == 200, response.text
    body = response.json()
    user_id = body["user"]["userId"]
    assert body["user"]["email"] == address and body["user"]["roles"] == ["ROLE_USER"]
    assert body["principal"]["userId"] == user_id and body["tokens"]["accessToken"] and body["tokens"]["refreshToken"]

    # The row and its event were written together.
    assert sql(pg, f"SELECT email FROM asgardian.users WHERE id = '{user_id}'") == address
    event = sql(pg, f"SELECT id, type FROM event_source.events WHERE key = '{user_id}'")
    assert event.count("\n") == 0 and event.endswith("UserCreated"), event
    event_id = event.split("|")[0]

    # Relay -> Tansu -> Asgardian's consumer -> Iris SendMail -> SMTP; then processed = true.
    processed = eventually(lambda: sql(pg, f"SELECT processed FROM event_source.events WHERE id = '{event_id}'") == "t",
                           "UserCreated to be processed")
    assert processed
    mails = eventually(lambda: mails_to(smtp.maildir, address), "the welcome mail at the SMTP server")
    assert len(mails) == 1
    message = mails[0]
    assert address in message["To"] and "Grace <Hopper>" in str(message["To"].addresses[0].display_name)
    assert message["Subject"] and message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert "Grace <Hopper>" in text_of(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Grace &lt;Hopper&gt;" in html and "<Hopper>" not in html
    # Iris stored it under the welcome key `<event_id>:<user_id>`, so a redelivered event mails once.
    listed = call(iris, "GET", "/notifications/admin/deliveries", admin, params={"page.page_size": 500})
    assert listed.status_code == 200, listed.text
    welcome = [d for d in listed.json().get("deliveries", []) if d["idempotencyKey"] == f"{event_id}:{user_id}"]
    assert len(welcome) == 1 and welcome[0]["deliveryId"] == message["X-Courier-Delivery-Id"], welcome


# --------------------------------------------------------------------------- password recovery


RESET_LINK = re.compile(r"https?://\S+[?&]token=([A-Za-z0-9_-]+)")


def test_recover_mail_reset_then_old_password_and_refresh_token_fail(asgardian, iris, pg, smtp):
    account = Account(asgardian, "recover", "Rita Recover")
    old_refresh, old_access = account.refresh, account.access
    response = call(asgardian, "POST", "/user/recover", json={"email": account.email.upper()})
    assert response.status_code == 200 and response.json() == {}, response.text
    mails = eventually(lambda: [m for m in mails_to(smtp.maildir, account.email) if RESET_LINK.search(text_of(m))],
                       "the recovery mail")
    assert len(mails) == 1
    text = text_of(mails[0])
    token = RESET_LINK.search(text).group(1)
    assert "30" in text, "the mail should say how long the link is valid"
    # Only the token's hash is stored.
    assert token not in sql(pg, "SELECT string_agg(token_hash::text, ',') FROM asgardian.recovery_tokens")

    new_password = "an entirely new pass phrase"
    reset = call(asgardian, "PUT", "/user/recover", json={"token": token, "newPassword": new_password})
    assert reset.status_code == 200, reset.text
    assert reset.json()["endedSessionCount"] >= 1

    old = call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_error(old, 401, "UNAUTHENTICATED")
    new = call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": new_password})
    assert new.status_code == 200, new.text
    refreshed = call(asgardian, "POST", "/auth/refresh", json={"refreshToken": old_refresh})
    assert_error(refreshed, 401, "UNAUTHENTICATED")
    assert call(asgardian, "GET", "/user/profile", old_access).status_code == 401
    # The token is single use.
    again = call(asgardian, "PUT", "/user/recover", json={"token": token, "newPassword": "yet another pass phrase"})
    assert_error(again, 401, "UNAUTHENTICATED")
    assert call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": new_password}).status_code == 200


def recovery_mails(maildir, address):
    return [m for m in mails_to(maildir, address) if RESET_LINK.search(text_of(m))]


def test_recover_for_an_unknown_email_answers_the_same_and_mails_nothing(asgardian, iris, pg, smtp):
    known = Account(asgardian, "known")
    unknown = new_address("nobody")
    before_tokens = sql(pg, "SELECT count(*) FROM asgardian.recovery_tokens")
    answer_unknown = call(asgardian, "POST", "/user/recover", json={"email": unknown})
    # A request hands its mail to Iris, and Iris to SMTP, before it answers: nothing can come later.
    assert sql(pg, "SELECT count(*) FROM asgardian.recovery_tokens") == before_tokens
    answer_known = call(asgardian, "POST", "/user/recover", json={"email": known.email})
    assert (answer_unknown.status_code, answer_unknown.json()) == (answer_known.status_code, answer_known.json()) == (200, {})
    assert len(recovery_mails(smtp.maildir, known.email)) == 1
    assert not mails_to(smtp.maildir, unknown)
    assert int(sql(pg, "SELECT count(*) FROM asgardian.recovery_tokens")) == int(before_tokens) + 1


# --------------------------------------------------------------------------- authorization matrix

ROLES = ("anonymous", "user", "deliverer", "admin")


@pytest.fixture(scope="module")
def people(asgardian, admin):
    """Tokens per role, and two plain users A and B."""
    a = Account(asgardian, "alice", "Alice A")
    b = Account(asgardian, "bob", "Bob B")
    deliverer = make_deliverer(asgardian, admin)
    return {"anonymous": None, "user": a.access, "deliverer": deliverer.access, "admin": admin, "a": a, "b": b,
            "deliverer_account": deliverer}


def expected(access, role):
    if access == "public":
        return None
    if role == "anonymous":
        return 401
    if access == "admin" and role != "admin":
        return 403
    return None


def route_table(people):
    b = people["b"].user_id
    return [
        # Asgardian, AccountService: public routes reach the handler for everyone (here: the body is
        # refused by validation, which proves that no token or role was asked for).
        ("asgardian", "POST", "/auth/signup", {"json": {}}, "public", 400),
        ("asgardian", "POST", "/auth/login", {"json": {}}, "public", 400),
        ("asgardian", "POST", "/auth/refresh", {"json": {}}, "public", 400),
        ("asgardian", "POST", "/user/recover", {"json": {}}, "public", 400),
        ("asgardian", "PUT", "/user/recover", {"json": {}}, "public", 400),
        ("asgardian", "GET", "/user/profile", {}, "authenticated", 200),
        ("asgardian", "PUT", "/user/profile", {"json": {}}, "authenticated", 200),
        ("asgardian", "POST", "/auth/logout", {"json": {}}, "authenticated", 200),
        # Asgardian, UserAdminService: admins only.
        ("asgardian", "GET", "/user/admin/users", {}, "admin", 200),
        ("asgardian", "GET", f"/user/admin/users/{b}", {}, "admin", 200),
        ("asgardian", "PUT", f"/user/admin/users/{b}/roles", {"json": {"roles": ["ROLE_USER"]}}, "admin", 200),
        ("asgardian", "PUT", f"/user/admin/users/{b}/disabled", {"json": {"disabled": False}}, "admin", 200),
        ("asgardian", "DELETE", f"/user/admin/users/{uuid.uuid4()}", {}, "admin", 404),
        # Iris: the public key, the caller's own subscriptions and live stream, and the admin log.
        ("iris", "GET", "/notifications/push/vapid-public-key", {}, "public", 200),
        ("iris", "GET", "/notifications/push/subscriptions", {}, "authenticated", 200),
        ("iris", "POST", "/notifications/push/subscriptions", {"json": {}}, "authenticated", 400),
        # Removing a subscription that is not the caller's succeeds and reveals nothing (iris.proto).
        ("iris", "DELETE", f"/notifications/push/subscriptions/{uuid.uuid4()}", {}, "authenticated", 200),
        ("iris", "GET", "/notifications/live", {"stream": True}, "authenticated", 200),
        ("iris", "GET", "/notifications/admin/deliveries", {}, "admin", 200),
        ("iris", "GET", "/notifications/admin/mail-drop", {}, "admin", None),
        ("iris", "GET", f"/notifications/admin/mail-drop/{uuid.uuid4()}", {}, "admin", None),
    ]


def test_authorization_matrix(asgardian, iris, admin, people, pg):
    services = {"asgardian": asgardian, "iris": iris}
    b_before = user_row(pg, people["b"].user_id)
    failures = []
    for service, method, path, options, access, allowed_status in route_table(people):
        for role in ROLES:
            token = people[role]
            if path == "/auth/logout" and token is not None:
                token = fresh_token(asgardian, people, role)
            response = call(services[service], method, path, token, **options)
            status = response.status_code
            code = response.json().get("code") if status in (401, 403) else None
            response.close()
            want = expected(access, role)
            if want is not None:
                ok = status == want and code == {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}.get(status)
            else:
                ok = status not in (401, 403) and (allowed_status is None or status == allowed_status)
            if not ok:
                failures.append(f"{role:9} {method} {path}: {status} (want {want or allowed_status or 'not 401/403'})")
    assert not failures, "\n".join(failures)
    # Nobody but the admin touched B, and the admin's writes above kept B as it was.
    assert user_row(pg, people["b"].user_id) == b_before


def fresh_token(asgardian, people, role):
    if role == "admin":
        return call(asgardian, "POST", "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()[
            "tokens"]["accessToken"]
    account = people["a"] if role == "user" else people["deliverer_account"]
    token = call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": account.password}).json()[
        "tokens"]["accessToken"]
    return token


def test_user_a_cannot_read_or_change_b(asgardian, people, pg):
    a, b = people["a"], people["b"]
    before = user_row(pg, b.user_id)
    for token in (a.access, people["deliverer"]):
        assert_error(call(asgardian, "GET", f"/user/admin/users/{b.user_id}", token), 403, "PERMISSION_DENIED")
        assert_error(call(asgardian, "PUT", f"/user/admin/users/{b.user_id}/roles", token,
                          json={"roles": ["ROLE_USER", "ROLE_ADMIN"]}), 403, "PERMISSION_DENIED")
        assert_error(call(asgardian, "PUT", f"/user/admin/users/{b.user_id}/disabled", token,
                          json={"disabled": True}), 403, "PERMISSION_DENIED")
        assert_error(call(asgardian, "DELETE", f"/user/admin/users/{b.user_id}", token), 403, "PERMISSION_DENIED")
        assert_error(call(asgardian, "GET", "/user/admin/users", token, params={"query": "bob"}), 403, "PERMISSION_DENIED")
    # The profile routes take no user id: one named in the query or the body is refused, not used.
    assert_error(call(asgardian, "GET", "/user/profile", a.access, params={"userId": b.user_id}), 400,
                 "INVALID_ARGUMENT", "userId")
    assert_error(call(asgardian, "PUT", "/user/profile", a.access, json={"userId": b.user_id, "displayName": "Mallory"}),
                 400, "INVALID_ARGUMENT", "userId")
    assert_error(call(asgardian, "PUT", "/user/profile", a.access, json={"roles": ["ROLE_ADMIN"]}), 400,
                 "INVALID_ARGUMENT", "roles")
    assert call(asgardian, "GET", "/user/profile", b.access).json()["user"]["userId"] == b.user_id
    mine = call(asgardian, "GET", "/user/profile", a.access).json()["user"]
    assert mine["userId"] == a.user_id and mine["roles"] == ["ROLE_USER"] and mine["displayName"] == "Alice A"
    assert user_row(pg, b.user_id) == before


def test_admin_rpcs_over_grpc_check_the_role(accounts_grpc, people, pb):
    _, admin_stub = accounts_grpc
    request = pb.asgardian.GetUserRequest(user_id=people["b"].user_id)
    with pytest.raises(grpc.RpcError) as denied:
        admin_stub.GetUser(request, metadata=[("authorization", f"Bearer {people['a'].access}")])
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as anonymous:
        admin_stub.GetUser(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = admin_stub.GetUser(request, metadata=[("authorization", f"Bearer {people['admin']}")])
    assert reply.user.user_id == people["b"].user_id


# --------------------------------------------------------------------------- tokens


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(workdir):
    kid, seed = (workdir / "asgardian-signing-key").read_text().split()
    return kid, Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))


def sign(key, kid, claims):
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64url(signature)}"


def claims_of(token):
    return json.loads(unb64url(token.split(".")[1]))


@pytest.fixture(scope="module")
def bad_tokens(asgardian, workdir):
    """Each kind of bad token, built from a real session, and a re-signed good one (the control that
    shows the crafting itself is right)."""
    account = Account(asgardian, "tokens")
    kid, key = signing_key(workdir)
    claims = claims_of(account.access)
    assert claims["sub"] == account.user_id
    now = int(time.time())
    expired = {**claims, "iat": now - 3600, "exp": now - 60}
    header, payload, signature = account.access.split(".")
    flipped = bytearray(unb64url(signature))
    flipped[0] ^= 1
    revoked = Account(asgardian, "revoked")
    assert call(asgardian, "POST", "/auth/logout", revoked.access, json={}).status_code == 200
    return {
        "control": sign(key, kid, claims),
        "expired": sign(key, kid, expired),
        "forged signature": sign(Ed25519PrivateKey.generate(), kid, claims),
        "flipped signature": f"{header}.{payload}.{b64url(bytes(flipped))}",
        "wrong key id": sign(key, "not-" + kid, claims),
        "revoked": revoked.access,
        "garbage": "garbage",
        "three garbage parts": "a.b.c",
        "alg none": f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': kid}).encode())}.{payload}.",
    }


REJECTIONS = {
    "expired": "TOKEN_REJECTION_EXPIRED",
    "revoked": "TOKEN_REJECTION_REVOKED",
}
BAD = ["expired", "forged signature", "flipped signature", "wrong key id", "revoked", "garbage", "three garbage parts",
       "alg none"]


def test_reissued_control_token_is_accepted(asgardian, identity, pb, bad_tokens):
    assert call(asgardian, "GET", "/user/profile", bad_tokens["control"]).status_code == 200
    assert identity.IsAuthenticated(pb.asgardian.IsAuthenticatedRequest(access_token=bad_tokens["control"])).authenticated


@pytest.mark.parametrize("kind", BAD)
def test_bad_token_is_refused_over_rest_and_grpc(asgardian, iris, identity, accounts_grpc, pb, bad_tokens, kind):
    token = bad_tokens[kind]
    for service, path in ((asgardian, "/user/profile"), (iris, "/notifications/push/subscriptions")):
        response = call(service, "GET", path, token)
        assert_error(response, 401, "UNAUTHENTICATED")
    verdict = identity.IsAuthenticated(pb.asgardian.IsAuthenticatedRequest(access_token=token))
    assert not verdict.authenticated and not verdict.principal.user_id
    want = REJECTIONS.get(kind, "TOKEN_REJECTION_MALFORMED")
    assert pb.asgardian.TokenRejection.Name(verdict.rejection) == want
    account_stub, _ = accounts_grpc
    with pytest.raises(grpc.RpcError) as refused:
        account_stub.GetProfileData(pb.asgardian.GetProfileDataRequest(), metadata=[("authorization", f"Bearer {token}")])
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_is_authenticated_with_an_empty_token_is_invalid_argument(identity, pb):
    with pytest.raises(grpc.RpcError) as failure:
        identity.IsAuthenticated(pb.asgardian.IsAuthenticatedRequest(access_token=""))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "access_token" in failure.value.details()


def test_logout_revokes_at_once(asgardian, iris, identity, pb):
    account = Account(asgardian, "logout")
    # Use the token on both services first, so that any cache has seen it as good.
    assert call(asgardian, "GET", "/user/profile", account.access).status_code == 200
    assert call(iris, "GET", "/notifications/push/subscriptions", account.access).status_code == 200
    assert call(asgardian, "POST", "/auth/logout", account.access, json={}).json()["endedSessionCount"] == 1
    verdict = identity.IsAuthenticated(pb.asgardian.IsAuthenticatedRequest(access_token=account.access))
    assert pb.asgardian.TokenRejection.Name(verdict.rejection) == "TOKEN_REJECTION_REVOKED"
    assert_error(call(asgardian, "GET", "/user/profile", account.access), 401, "UNAUTHENTICATED")
    assert_error(call(asgardian, "POST", "/auth/refresh", json={"refreshToken": account.refresh}), 401, "UNAUTHENTICATED")
    # Other services cache IsAuthenticated answers for 2 s (ServiceKit's CachingAuthenticator): there
    # a revoked token that was just used stops working when its entry expires. The deadline is a
    # bound on waiting, generous for a loaded machine; the time taken is printed, not asserted.
    started = time.monotonic()
    eventually(lambda: call(iris, "GET", "/notifications/push/subscriptions", account.access).status_code == 401,
               "Iris to refuse the revoked token", timeout=20)
    print(f"Iris refused the revoked token {time.monotonic() - started:.1f} s after logout")


def test_token_expires_after_its_lifetime(pg, workdir, broker, iris_grpc_port, asgardian, identity, pb):
    """A second Asgardian on the same database and key, issuing 1 s tokens: the main one refuses them
    once they are past their expiry."""
    from courier_fixtures import asgardian_settings
    short = stack.Service("asgardian", asgardian_settings(pg, workdir, broker, iris_grpc_port,
                                                          ASGARDIAN_ACCESS_TOKEN_TTL="1s"), workdir / "asgardian-short")
    short.start()
    try:
        account = Account(short, "short")
        claims = claims_of(account.access)
        assert claims["exp"] - claims["iat"] == 1
        verdict = eventually(
            lambda: (v := identity.IsAuthenticated(pb.asgardian.IsAuthenticatedRequest(access_token=account.access)))
            and not v.authenticated and v, "the 1 s token to expire", timeout=10)
        assert pb.asgardian.TokenRejection.Name(verdict.rejection) == "TOKEN_REJECTION_EXPIRED"
        assert time.time() >= claims["exp"]
        eventually(lambda: call(asgardian, "GET", "/user/profile", account.access).status_code == 401,
                   "REST to refuse the expired token", timeout=10)
    finally:
        assert short.stop() == 0


# --------------------------------------------------------------------------- rate limit


def test_eleventh_bad_login_for_one_account_gets_429(asgardian, people):
    account = Account(asgardian, "limited")
    for attempt in range(10):
        # A new client address each time: the account's own limit is what trips.
        response = call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": f"wrong {attempt}!"})
        assert_error(response, 401, "UNAUTHENTICATED")
    eleventh = call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": "wrong again!"})
    assert_error(eleventh, 429, "RESOURCE_EXHAUSTED")
    retry_after = int(eleventh.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # Locked for the right password too, and for the same email in other letter case...
    assert call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": PASSWORD}).status_code == 429
    assert call(asgardian, "POST", "/auth/login",
                json={"email": account.email.upper(), "password": PASSWORD}).status_code == 429
    # ...but not for another account.
    other = people["a"]
    assert call(asgardian, "POST", "/auth/login", json={"email": other.email, "password": other.password}).status_code == 200


def test_eleventh_bad_login_from_one_address_gets_429(asgardian):
    client = client_address()
    for attempt in range(10):
        response = call(asgardian, "POST", "/auth/login", client=client,
                        json={"email": new_address("spray"), "password": f"guess {attempt}!"})
        assert_error(response, 401, "UNAUTHENTICATED")
    eleventh = call(asgardian, "POST", "/auth/login", client=client, json={"email": new_address("spray"), "password": "x!"})
    assert_error(eleventh, 429, "RESOURCE_EXHAUSTED", "address")
    assert 1 <= int(eleventh.headers["Retry-After"]) <= 60


def test_eleventh_signup_from_one_address_gets_429_and_writes_nothing(asgardian, pg):
    client = client_address()
    for _ in range(10):
        response = call(asgardian, "POST", "/auth/signup", client=client,
                        json={"email": new_address("burst"), "password": PASSWORD, "displayName": "Burst"})
        assert response.status_code == 200, response.text
    before = counts(pg)
    address = new_address("burst")
    refused = call(asgardian, "POST", "/auth/signup", client=client,
                   json={"email": address, "password": PASSWORD, "displayName": "Burst"})
    assert_error(refused, 429, "RESOURCE_EXHAUSTED")
    assert int(refused.headers["Retry-After"]) >= 1
    assert counts(pg) == before


def test_refresh_rotates_and_reuse_ends_the_session(asgardian):
    account = Account(asgardian, "rotate")
    first = call(asgardian, "POST", "/auth/refresh", json={"refreshToken": account.refresh})
    assert first.status_code == 200, first.text
    second_refresh = first.json()["tokens"]["refreshToken"]
    new_access = first.json()["tokens"]["accessToken"]
    assert second_refresh != account.refresh
    assert call(asgardian, "GET", "/user/profile", new_access).status_code == 200
    # Presenting the rotated token again: refused, and the whole session ends.
    assert_error(call(asgardian, "POST", "/auth/refresh", json={"refreshToken": account.refresh}), 401, "UNAUTHENTICATED")
    assert_error(call(asgardian, "POST", "/auth/refresh", json={"refreshToken": second_refresh}), 401, "UNAUTHENTICATED")
    assert_error(call(asgardian, "GET", "/user/profile", new_access), 401, "UNAUTHENTICATED")


def test_password_hash_is_phc_scrypt_and_rehashed_when_parameters_change(pg, workdir, broker, iris_grpc_port, asgardian):
    account = Account(asgardian, "rehash")
    stored = sql(pg, f"SELECT password_hash FROM asgardian.users WHERE id = '{account.user_id}'")
    assert re.fullmatch(r"\$scrypt\$ln=12,r=8,p=1\$[A-Za-z0-9+/=_-]+\$[A-Za-z0-9+/=_-]+", stored), stored
    assert PASSWORD not in stored
    from courier_fixtures import asgardian_settings
    stronger = stack.Service("asgardian", asgardian_settings(pg, workdir, broker, iris_grpc_port,
                                                             ASGARDIAN_SCRYPT_LOG_N="13"), workdir / "asgardian-ln13")
    stronger.start()
    try:
        assert call(stronger, "POST", "/auth/login", json={"email": account.email, "password": "wrong one!"}).status_code == 401
        assert sql(pg, f"SELECT password_hash FROM asgardian.users WHERE id = '{account.user_id}'") == stored
        account.asgardian = stronger
        account.login()
    finally:
        assert stronger.stop() == 0
    rehashed = sql(pg, f"SELECT password_hash FROM asgardian.users WHERE id = '{account.user_id}'")
    assert rehashed.startswith("$scrypt$ln=13,r=8,p=1$") and rehashed != stored
    # The old parameters still verify the new hash's password on the first Asgardian.
    account.asgardian = asgardian
    account.login()


def test_unknown_email_and_wrong_password_answer_alike(asgardian):
    account = Account(asgardian, "alike")
    wrong = call(asgardian, "POST", "/auth/login", json={"email": account.email, "password": "not the password"})
    unknown = call(asgardian, "POST", "/auth/login", json={"email": new_address("ghost"), "password": "not the password"})
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    assert wrong.status_code == 401


# --------------------------------------------------------------------------- bad input

SIGNUP_OK = {"email": "x@courier.test", "password": PASSWORD, "displayName": "Xena"}
BAD_SIGNUPS = [
    ("no email", {"email": ""}, "email"),
    ("no at", {"email": "ada.courier.test"}, "email"),
    ("two ats", {"email": "a@b@courier.test"}, "email"),
    ("no dot", {"email": "ada@localhost"}, "email"),
    ("empty label", {"email": "ada@courier..test"}, "email"),
    ("space inside", {"email": "a da@courier.test"}, "email"),
    ("long email", {"email": "a" * 250 + "@courier.test"}, "email"),
    ("short password", {"password": "1234567"}, "password"),
    ("long password", {"password": "p" * 129}, "password"),
    ("no name", {"displayName": "   "}, "display_name"),
    ("long name", {"displayName": "n" * 101}, "display_name"),
    ("control in name", {"displayName": "Ada\u0007"}, "display_name"),
    ("phone no plus", {"phoneNumber": "4915123456789"}, "phone_number"),
    ("phone leading 0", {"phoneNumber": "+0151234"}, "phone_number"),
    ("phone too long", {"phoneNumber": "+1234567890123456"}, "phone_number"),
    ("phone with space", {"phoneNumber": "+49 151 234"}, "phone_number"),
    ("wrong type", {"displayName": 42}, "display"),
]


@pytest.mark.parametrize("case,fields,field", BAD_SIGNUPS, ids=[c[0] for c in BAD_SIGNUPS])
def test_bad_signup_is_refused_and_writes_nothing(asgardian, pg, case, fields, field):
    address = new_address("bad")
    body = {**SIGNUP_OK, "email": address, **fields}
    before = counts(pg)
    response = call(asgardian, "POST", "/auth/signup", json=body)
    assert_error(response, 400, "INVALID_ARGUMENT", field)
    assert counts(pg) == before
    assert sql(pg, f"SELECT count(*) FROM asgardian.users WHERE lower(email) = lower('{address}')") == "0"


def test_malformed_json_is_refused(asgardian, pg):
    before = counts(pg)
    response = call(asgardian, "POST", "/auth/signup", data=b'{"email": "x@courier.test", ',
                    headers={"Content-Type": "application/json"})
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert counts(pg) == before


def test_duplicate_signup_is_already_exists(asgardian, pg):
    account = Account(asgardian, "dup")
    before = counts(pg)
    response = call(asgardian, "POST", "/auth/signup",
                    json={"email": account.email.upper(), "password": PASSWORD, "displayName": "Twin"})
    assert_error(response, 409, "ALREADY_EXISTS")
    assert counts(pg) == before


def test_bad_login_refresh_and_logout_input(asgardian):
    assert_error(call(asgardian, "POST", "/auth/login", json={"email": "", "password": "x"}), 400, "INVALID_ARGUMENT",
                 "email")
    assert_error(call(asgardian, "POST", "/auth/login", json={"email": "a@b.cd", "password": ""}), 400,
                 "INVALID_ARGUMENT", "password")
    assert_error(call(asgardian, "POST", "/auth/refresh", json={"refreshToken": ""}), 400, "INVALID_ARGUMENT",
                 "refresh_token")
    assert_error(call(asgardian, "POST", "/auth/refresh", json={"refreshToken": "never-issued"}), 401, "UNAUTHENTICATED")
    account = Account(asgardian, "logoutinput")
    assert_error(call(asgardian, "POST", "/auth/logout", account.access, json={"allSessions": "yes"}), 400,
                 "INVALID_ARGUMENT", "allSessions")
    # The refused logout ended nothing.
    assert call(asgardian, "GET", "/user/profile", account.access).status_code == 200


BAD_PROFILES = [
    ("bad email", {"email": "not-an-email", "currentPassword": PASSWORD}, 400, "INVALID_ARGUMENT", "email"),
    ("empty name", {"displayName": ""}, 400, "INVALID_ARGUMENT", "display_name"),
    ("long name", {"displayName": "n" * 101}, 400, "INVALID_ARGUMENT", "display_name"),
    ("bad phone", {"phoneNumber": "0151 234"}, 400, "INVALID_ARGUMENT", "phone_number"),
    ("good name, bad phone", {"displayName": "Changed", "phoneNumber": "+0"}, 400, "INVALID_ARGUMENT", "phone_number"),
    ("email without password", {"email": "elsewhere@courier.test"}, 403, "PERMISSION_DENIED", "current_password"),
    ("email with wrong password", {"email": "elsewhere@courier.test", "currentPassword": "wrong one!"}, 403,
     "PERMISSION_DENIED", "current_password"),
    ("wrong type", {"trackingMailEnabled": "sometimes"}, 400, "INVALID_ARGUMENT", "tracking"),
]


@pytest.fixture(scope="module")
def profile_account(asgardian):
    return Account(asgardian, "profile", "Paula Profile")


@pytest.mark.parametrize("case,body,status,code,field", BAD_PROFILES, ids=[c[0] for c in BAD_PROFILES])
def test_bad_profile_update_changes_nothing(asgardian, pg, profile_account, case, body, status, code, field):
    before = user_row(pg, profile_account.user_id)
    response = call(asgardian, "PUT", "/user/profile", profile_account.access, json=body)
    assert_error(response, status, code, field)
    assert user_row(pg, profile_account.user_id) == before


def test_good_profile_update(asgardian, profile_account, pg):
    response = call(asgardian, "PUT", "/user/profile", profile_account.access,
                    json={"displayName": "  Paula P  ", "phoneNumber": "+4915123456789", "trackingPushEnabled": False})
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["displayName"] == "Paula P" and user["phoneNumber"] == "+4915123456789"
    assert user["notificationPreferences"].get("trackingPushEnabled", False) is False
    assert call(asgardian, "GET", "/user/profile", profile_account.access).json()["user"] == user


def test_bad_recovery_input(asgardian, pg, smtp):
    before = counts(pg)
    assert_error(call(asgardian, "POST", "/user/recover", json={"email": ""}), 400, "INVALID_ARGUMENT", "email")
    assert_error(call(asgardian, "POST", "/user/recover", json={"email": "nobody"}), 400, "INVALID_ARGUMENT", "email")
    assert counts(pg) == before
    account = Account(asgardian, "resetinput")
    before = counts(pg)
    hash_before = user_row(pg, account.user_id)
    assert_error(call(asgardian, "PUT", "/user/recover", json={"token": "", "newPassword": "long enough 1"}), 400,
                 "INVALID_ARGUMENT", "token")
    assert_error(call(asgardian, "PUT", "/user/recover", json={"token": "abc", "newPassword": "short"}), 400,
                 "INVALID_ARGUMENT", "new_password")
    assert_error(call(asgardian, "PUT", "/user/recover", json={"token": "never-issued", "newPassword": "long enough 1"}),
                 401, "UNAUTHENTICATED")
    assert counts(pg) == before and user_row(pg, account.user_id) == hash_before
    assert not recovery_mails(smtp.maildir, account.email)


def test_bad_admin_input(asgardian, admin, pg):
    me = call(asgardian, "GET", "/user/profile", admin).json()["user"]["userId"]
    victim = Account(asgardian, "victim")
    before = counts(pg), user_row(pg, victim.user_id), user_row(pg, me)
    cases = [
        ("GET", "/user/admin/users", {"params": {"page.page_size": 501}}, 400, "INVALID_ARGUMENT", "page.page_size"),
        ("GET", "/user/admin/users", {"params": {"page.page_size": -1}}, 400, "INVALID_ARGUMENT", "page"),
        ("GET", "/user/admin/users", {"params": {"query": "q" * 101}}, 400, "INVALID_ARGUMENT", "query"),
        ("GET", "/user/admin/users", {"params": {"page.page_token": "bm9wZQ"}}, 400, "INVALID_ARGUMENT", "page_token"),
        ("GET", "/user/admin/users", {"params": {"role": "ROLE_WIZARD"}}, 400, "INVALID_ARGUMENT", "role"),
        ("GET", "/user/admin/users/not-a-uuid", {}, 400, "INVALID_ARGUMENT", "user_id"),
        ("GET", f"/user/admin/users/{uuid.uuid4()}", {}, 404, "NOT_FOUND", "no user"),
        ("PUT", f"/user/admin/users/{victim.user_id}/roles", {"json": {"roles": []}}, 400, "INVALID_ARGUMENT", "roles"),
        ("PUT", f"/user/admin/users/{victim.user_id}/roles", {"json": {"roles": ["ROLE_UNSPECIFIED"]}}, 400,
         "INVALID_ARGUMENT", "roles"),
        ("PUT", f"/user/admin/users/{victim.user_id}/roles", {"json": {"roles": ["ROLE_WIZARD"]}}, 400,
         "INVALID_ARGUMENT", "roles"),
        ("PUT", "/user/admin/users/nope/roles", {"json": {"roles": ["ROLE_USER"]}}, 400, "INVALID_ARGUMENT", "user_id"),
        ("PUT", f"/user/admin/users/{uuid.uuid4()}/roles", {"json": {"roles": ["ROLE_USER"]}}, 404, "NOT_FOUND", ""),
        ("PUT", f"/user/admin/users/{me}/roles", {"json": {"roles": ["ROLE_USER"]}}, 400, "FAILED_PRECONDITION",
         "admin role"),
        ("PUT", f"/user/admin/users/{victim.user_id}/disabled", {"json": {"disabled": True, "reason": "r" * 501}}, 400,
         "INVALID_ARGUMENT", "reason"),
        ("PUT", f"/user/admin/users/{me}/disabled", {"json": {"disabled": True}}, 400, "FAILED_PRECONDITION", "yourself"),
        ("PUT", "/user/admin/users/1234/disabled", {"json": {"disabled": True}}, 400, "INVALID_ARGUMENT", "user_id"),
        ("DELETE", "/user/admin/users/1234", {}, 400, "INVALID_ARGUMENT", "user_id"),
        ("DELETE", f"/user/admin/users/{uuid.uuid4()}", {}, 404, "NOT_FOUND", "no user"),
        ("DELETE", f"/user/admin/users/{me}", {}, 400, "FAILED_PRECONDITION", "yourself"),
    ]
    failures = []
    for method, path, options, status, code, fragment in cases:
        response = call(asgardian, method, path, admin, **options)
        try:
            assert_error(response, status, code, fragment)
        except (AssertionError, ValueError) as error:
            failures.append(f"{method} {path} {options}: {error}")
    assert not failures, "\n".join(failures)
    assert (counts(pg), user_row(pg, victim.user_id), user_row(pg, me)) == before


def test_admin_changes_work_and_revoke(asgardian, admin, pg):
    """The positive side of the admin routes: list/search, disable (tokens fail at once), delete."""
    victim = Account(asgardian, "target", "Tara Target")
    listed = call(asgardian, "GET", "/user/admin/users", admin, params={"query": victim.email[:14].upper()})
    assert listed.status_code == 200 and [u["userId"] for u in listed.json()["users"]] == [victim.user_id]
    page = call(asgardian, "GET", "/user/admin/users", admin, params={"page.page_size": 1})
    assert len(page.json()["users"]) == 1 and page.json()["pageInfo"]["nextPageToken"]
    second = call(asgardian, "GET", "/user/admin/users", admin,
                  params={"page.page_size": 1, "page.page_token": page.json()["pageInfo"]["nextPageToken"]})
    assert second.status_code == 200 and second.json()["users"][0]["userId"] != page.json()["users"][0]["userId"]

    disabled = call(asgardian, "PUT", f"/user/admin/users/{victim.user_id}/disabled", admin,
                    json={"disabled": True, "reason": "test"})
    assert disabled.status_code == 200 and disabled.json()["user"]["disabled"]
    assert call(asgardian, "GET", "/user/profile", victim.access).status_code == 401
    assert_error(call(asgardian, "POST", "/auth/login", json={"email": victim.email, "password": PASSWORD}), 403,
                 "PERMISSION_DENIED")
    deleted = call(asgardian, "DELETE", f"/user/admin/users/{victim.user_id}", admin)
    assert deleted.status_code == 200 and deleted.json()["user"]["deleted"]
    assert user_row(pg, victim.user_id).startswith("||")
    response = call(asgardian, "POST", "/auth/signup", json={"email": victim.email, "password": PASSWORD,
                                                             "displayName": "New Tara"})
    assert response.status_code == 200, "a deleted user's email should be free again"

