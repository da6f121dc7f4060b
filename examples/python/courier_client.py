#!/usr/bin/env python3
"""A small command-line client of Courier, written against the classes that stock protoc generates
from proto/ (run generate.sh first). It shows the three ways in:

- REST through the ingress: log in with `POST /auth/login` and keep the access token;
- gRPC, through the ingress (nginx, h2c) or straight to a service: Asgardian's GetUserData and
  Hermes' tracking RPCs, including the server-streaming watches;
- Kafka: the event topics, each record an EventEnvelope whose payload is decoded by its type name.

Every answer is printed on stdout as one JSON object per line (proto3 JSON, lowerCamel names, as the
REST API writes them); errors go to stderr with the status and the server's message.

Exit codes: 0 success, 1 gRPC error, 2 bad command line, 3 REST error, 4 Kafka error,
5 a watch or the event consumer ended (timeout, stream end) before --count messages arrived.
"""

import argparse
import base64
import json
import os
import pathlib
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

EXIT_OK, EXIT_GRPC, EXIT_USAGE, EXIT_REST, EXIT_KAFKA, EXIT_INCOMPLETE = 0, 1, 2, 3, 4, 5

GEN_DIR = pathlib.Path(os.environ.get("COURIER_GEN_DIR", pathlib.Path(__file__).resolve().parent / "gen"))


class Failure(Exception):
    """An error to report to the person: the message is printed as it is, the code is the exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def load_generated():
    """Imports the generated modules from GEN_DIR (or says how to make them)."""
    if not (GEN_DIR / "courier" / "asgardian" / "v1" / "asgardian_pb2.py").is_file():
        raise Failure(f"no generated classes in {GEN_DIR}: run examples/python/generate.sh "
                      "(or point COURIER_GEN_DIR at its output)", EXIT_USAGE)
    sys.path.insert(0, str(GEN_DIR))
    global asgardian_pb2, asgardian_grpc, hermes_pb2, hermes_grpc, events_pb2, options_pb2
    from courier.asgardian.v1 import asgardian_pb2, asgardian_pb2_grpc as asgardian_grpc  # noqa: F401
    from courier.events.v1 import events_pb2  # noqa: F401
    from courier.hermes.v1 import hermes_pb2, hermes_pb2_grpc as hermes_grpc  # noqa: F401
    from courier.options.v1 import options_pb2  # noqa: F401


def to_json(message):
    from google.protobuf import json_format

    return json_format.MessageToDict(message)


def emit(record):
    print(json.dumps(record, ensure_ascii=False, sort_keys=False), flush=True)


# --------------------------------------------------------------------------- command-line values


def address(text):
    """host:port (an IPv6 host in brackets)."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not host:port (e.g. 127.0.0.1:8090)")
    return text


def web_url(text):
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL (e.g. http://127.0.0.1:8080)")
    return text.rstrip("/")


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


# --------------------------------------------------------------------------- REST


def rest(args, method, path, body=None, token=None):
    """One JSON call through the ingress's REST side. Courier answers errors as
    {"code": "...", "message": "..."}; that message is what the person sees."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.web + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            answer = json.loads(raw)
            detail = f"{answer.get('code', '?')}: {answer.get('message', '')}"
        except ValueError:
            detail = raw[:200].decode("utf-8", "replace") or error.reason
        raise Failure(f"REST {method} {path} answered HTTP {error.code} {detail}", EXIT_REST) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Failure(f"REST {method} {args.web}{path} failed: {reason}", EXIT_REST) from None


def login(args):
    """Logs in with --email/--password (or COURIER_EMAIL/COURIER_PASSWORD); returns the answer."""
    email = args.email or os.environ.get("COURIER_EMAIL")
    password = os.environ.get("COURIER_PASSWORD") if args.password is None else args.password
    if not email or not password:
        raise Failure("logging in needs --email and --password (or COURIER_EMAIL and COURIER_PASSWORD)", EXIT_USAGE)
    return rest(args, "POST", "/auth/login", {"email": email, "password": password})


def bearer_token(args):
    """The access token to send: --token (or COURIER_TOKEN), else a fresh login."""
    token = args.token or os.environ.get("COURIER_TOKEN")
    if token:
        return token
    return login(args)["tokens"]["accessToken"]


# --------------------------------------------------------------------------- gRPC


def channel(args):
    import grpc

    return grpc.insecure_channel(args.grpc)


def metadata(token):
    return (("authorization", f"Bearer {token}"),) if token else ()


def grpc_failure(error, what, args):
    import grpc

    code = error.code() if isinstance(error, grpc.RpcError) else None
    name = code.name if code is not None else "UNKNOWN"
    return Failure(f"gRPC {what} at {args.grpc} failed: {name}: {error.details() or '(no message)'}", EXIT_GRPC)


def call(args, what, function, request, token=None):
    import grpc

    try:
        return function(request, metadata=metadata(token), timeout=args.timeout)
    except grpc.RpcError as error:
        raise grpc_failure(error, what, args) from None


def watch(args, what, open_stream, request, token):
    """Prints each message of a server stream until --count messages, the stream's end, --timeout
    seconds (the whole watch), or Ctrl-C."""
    import grpc

    stream = open_stream(request, metadata=metadata(token), timeout=args.watch_timeout)
    seen = 0
    try:
        for message in stream:
            emit(to_json(message))
            seen += 1
            if args.count and seen >= args.count:
                stream.cancel()
                return EXIT_OK
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            if args.count:
                raise Failure(f"{what}: {seen} of {args.count} messages within {args.watch_timeout:g} s",
                              EXIT_INCOMPLETE) from None
            return EXIT_OK
        raise grpc_failure(error, what, args) from None
    except KeyboardInterrupt:
        stream.cancel()
        return EXIT_OK
    if args.count:
        raise Failure(f"{what}: the stream ended after {seen} of {args.count} messages", EXIT_INCOMPLETE)
    return EXIT_OK


# --------------------------------------------------------------------------- commands


def command_login(args):
    answer = login(args)
    emit({"principal": answer["principal"], "accessToken": answer["tokens"]["accessToken"],
          "accessTokenExpiresAt": answer["tokens"].get("accessTokenExpiresAt")})
    return EXIT_OK


def command_user(args):
    # IdentityService is internal: it needs no token, but a token that is sent must be valid.
    token = args.token or os.environ.get("COURIER_TOKEN")
    with channel(args) as ch:
        answer = call(args, "IdentityService/GetUserData", asgardian_grpc.IdentityServiceStub(ch).GetUserData,
                      asgardian_pb2.GetUserDataRequest(user_id=args.user_id), token)
    emit(to_json(answer.user))
    return EXIT_OK


def command_follow(args):
    token = bearer_token(args)
    with channel(args) as ch:
        answer = call(args, "TrackingService/CreatePayloadSubscription",
                      hermes_grpc.TrackingServiceStub(ch).CreatePayloadSubscription,
                      hermes_pb2.CreatePayloadSubscriptionRequest(payload_tracking_code=args.tracking_code,
                                                                  title=args.title), token)
    emit(to_json(answer.subscription))
    return EXIT_OK


def command_subscriptions(args):
    token = bearer_token(args)
    with channel(args) as ch:
        answer = call(args, "TrackingService/GetAllPayloadSubscriptions",
                      hermes_grpc.TrackingServiceStub(ch).GetAllPayloadSubscriptions,
                      hermes_pb2.GetAllPayloadSubscriptionsRequest(), token)
    for subscription in answer.subscriptions:
        emit(to_json(subscription))
    return EXIT_OK


def command_watch_payloads(args):
    token = bearer_token(args)
    with channel(args) as ch:
        return watch(args, "TrackingService/WatchPayloadPositions",
                     hermes_grpc.TrackingServiceStub(ch).WatchPayloadPositions,
                     hermes_pb2.WatchPayloadPositionsRequest(payload_tracking_codes=args.tracking_code), token)


def command_watch_deliverers(args):
    token = bearer_token(args)
    with channel(args) as ch:
        return watch(args, "DeliveryAdminService/WatchDelivererPositions",
                     hermes_grpc.DeliveryAdminServiceStub(ch).WatchDelivererPositions,
                     hermes_pb2.WatchDelivererPositionsRequest(deliverer_ids=args.deliverer_id), token)


def event_topics():
    """Topic -> event message class, read from the `(courier.options.v1.event)` option of every
    message in events.proto: the contract, not a list kept here."""
    topics = {}
    for descriptor in events_pb2.DESCRIPTOR.message_types_by_name.values():
        options = descriptor.GetOptions()
        if options.HasExtension(options_pb2.event):
            topics[options.Extensions[options_pb2.event].topic] = descriptor.full_name
    return topics


def decode_record(record):
    """A Kafka record as one JSON object: where it came from, its envelope, and the event decoded by
    the envelope's `event_type`."""
    from google.protobuf import message_factory, symbol_database
    from google.protobuf.message import DecodeError

    out = {"topic": record.topic(), "partition": record.partition(), "offset": record.offset(),
           "recordKey": (record.key() or b"").decode("utf-8", "replace")}
    envelope = events_pb2.EventEnvelope()
    try:
        envelope.ParseFromString(record.value() or b"")
    except DecodeError as error:
        out["error"] = f"the record is not an EventEnvelope: {error}"
        out["valueBase64"] = base64.b64encode(record.value() or b"").decode()
        return out
    out["envelope"] = {key: value for key, value in to_json(envelope).items() if key != "payload"}
    try:
        descriptor = symbol_database.Default().pool.FindMessageTypeByName(envelope.event_type)
    except KeyError:
        out["error"] = f"unknown event type {envelope.event_type!r}"
        out["payloadBase64"] = base64.b64encode(envelope.payload).decode()
        return out
    event = message_factory.GetMessageClass(descriptor)()
    try:
        event.ParseFromString(envelope.payload)
    except DecodeError as error:
        out["error"] = f"the payload is not a valid {envelope.event_type}: {error}"
        return out
    out["event"] = to_json(event)
    return out


def command_events(args):
    try:
        import confluent_kafka
    except ImportError:
        raise Failure("the events command needs confluent-kafka (pip install confluent-kafka)", EXIT_USAGE) from None
    known = event_topics()
    topics = args.topic or sorted(known)
    unknown = [topic for topic in topics if topic not in known]
    if unknown:
        raise Failure(f"unknown topic {unknown[0]!r}; Courier's topics are: {', '.join(sorted(known))}", EXIT_USAGE)
    errors = []
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group or f"courier-client-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.auto.commit": bool(args.group),
        "socket.connection.setup.timeout.ms": 5000,
        # librdkafka retries on its own and logs each failed attempt; keep its errors instead and
        # report the one that matters.
        "error_cb": lambda error: errors.append(error),
        "log_level": 0,
    })
    consumer.subscribe(topics)
    deadline = time.monotonic() + args.watch_timeout
    seen = 0
    try:
        while time.monotonic() < deadline:
            record = consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
            if fatal := next((e for e in errors if e.fatal() or e.code() == confluent_kafka.KafkaError._ALL_BROKERS_DOWN), None):
                raise Failure(f"Kafka at {args.bootstrap}: {fatal.str()}", EXIT_KAFKA)
            if record is None:
                continue
            if record.error():
                if record.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    continue
                raise Failure(f"Kafka at {args.bootstrap}: {record.error().str()}", EXIT_KAFKA)
            decoded = decode_record(record)
            if args.key and decoded["recordKey"] != args.key:
                continue
            emit(decoded)
            seen += 1
            if args.count and seen >= args.count:
                return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        consumer.close()
    if args.count:
        why = f" (last broker error: {errors[-1].str()})" if errors else ""
        raise Failure(f"events: {seen} of {args.count} records within {args.watch_timeout:g} s{why}", EXIT_INCOMPLETE)
    return EXIT_OK


# --------------------------------------------------------------------------- the parser


def parser():
    top = argparse.ArgumentParser(
        prog="courier_client.py", description="Call Courier over REST, gRPC and Kafka with generated classes.",
        epilog="Exit codes: 0 success, 1 gRPC error, 2 bad command line, 3 REST error, 4 Kafka error, "
               "5 fewer than --count messages arrived.")
    # The connection options belong to every command, so they follow its name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--web", type=web_url, default=os.environ.get("COURIER_WEB", "http://127.0.0.1:8080"),
                     help="the ingress's HTTP address, for REST (default %(default)s, or COURIER_WEB)")
    common.add_argument("--grpc", type=address, default=os.environ.get("COURIER_GRPC", "127.0.0.1:8090"),
                     help="host:port for gRPC: the ingress (nginx, default %(default)s, or COURIER_GRPC) "
                          "or one service's own gRPC port")
    common.add_argument("--email", help="log in as (or COURIER_EMAIL)")
    common.add_argument("--password", help="the password (prefer COURIER_PASSWORD: arguments show in ps)")
    common.add_argument("--token", help="an access token to use instead of logging in (or COURIER_TOKEN)")
    common.add_argument("--timeout", type=seconds, default=30.0, help="seconds per unary call (default %(default)s)")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, function, help_text):
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(run=function)
        return sub

    def streaming(sub, what):
        sub.add_argument("--count", type=positive_int, help=f"stop after this many {what} (exit 5 if fewer come)")
        sub.add_argument("--watch-timeout", type=seconds, default=3600.0,
                         help="stop after this many seconds (default %(default)s)")

    add("login", command_login, "log in through REST and print the principal and access token")
    user = add("user", command_user, "Asgardian IdentityService/GetUserData over gRPC (no token needed)")
    user.add_argument("user_id", help="the user's id (a UUID)")
    follow = add("follow", command_follow, "Hermes TrackingService/CreatePayloadSubscription")
    follow.add_argument("tracking_code", help="the payload's 12-character tracking code")
    follow.add_argument("--title", default="Followed from the command line", help="your name for the payload")
    add("subscriptions", command_subscriptions, "Hermes TrackingService/GetAllPayloadSubscriptions")
    payloads = add("watch-payloads", command_watch_payloads,
                   "stream Hermes TrackingService/WatchPayloadPositions (the payloads you follow)")
    payloads.add_argument("--tracking-code", action="append", default=[], help="watch only this payload (repeatable)")
    streaming(payloads, "messages")
    deliverers = add("watch-deliverers", command_watch_deliverers,
                     "stream Hermes DeliveryAdminService/WatchDelivererPositions (admins)")
    deliverers.add_argument("--deliverer-id", action="append", default=[], help="watch only this deliverer (repeatable)")
    streaming(deliverers, "messages")
    events = add("events", command_events, "consume Courier's Kafka topics and print the decoded events")
    events.add_argument("--bootstrap", type=address, default=os.environ.get("COURIER_KAFKA", "127.0.0.1:59092"),
                        help="the Kafka bootstrap address (default %(default)s, or COURIER_KAFKA)")
    events.add_argument("--topic", action="append", help="a topic to read (repeatable; default: every event topic)")
    events.add_argument("--key", help="print only records with this key (the aggregate id)")
    events.add_argument("--from-beginning", action="store_true", help="read what the topics already hold")
    events.add_argument("--group", help="a consumer group that commits its offsets (default: a throwaway one)")
    streaming(events, "records")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        load_generated()
        return args.run(args)
    except Failure as failure:
        print(f"courier_client: {failure}", file=sys.stderr)
        return failure.code


if __name__ == "__main__":
    sys.exit(main())
