"""Driver of scripts/bench-pipeline.sh (a benchmark, not a test): the product's main pipeline end to end.

    fix -> Hermes DelivererService.ReportLocation (gRPC client stream) -> event store (outbox)
        -> relay -> Kafka (Tansu) -> Hermes' consumer (group `hermes`): position history, GetUserData
        from Asgardian, push (and throttled mail) through Iris on the mail-drop transport -> processed

Starts a throwaway Postgres cluster (track_commit_timestamp on), a Tansu broker and `courier
asgardian`, `courier iris`, `courier hermes` from BIN_DIR on free loopback ports. Sets up, through
REST, D deliverers (users with ROLE_DELIVERER, registered in Hermes) each carrying one picked-up
payload that exactly one user (its recipient) follows. Then:

(a) sustained: F fixes in all, F/D per deliverer on one ReportLocation stream each, sent as fast as
    the streams take them; fixes/s = F / (last event processed - first send).
(b) latency: `rate` fixes/s for `seconds` s, paced evenly over the deliverers' streams; per event
    the time from `occurred_at` (Hermes' clock when it took the fix) to the commit of the `hermes`
    group's processing transaction (pg_xact_commit_timestamp of its `deliveries` row): p50/p99/max.
    `deliveries.processed_at` is stamped when the consumer claims the event, before the handler
    runs, so it is printed too but is not the end of the pipeline.

Fixes are plausible device fixes: a few metres apart, strictly increasing `recorded_at` (1.2 s of
device time apart, so in the recent past: a device uploading its queue), accuracy set. Every fix
must be accepted and every event processed, or the run fails.

    python3 scripts/bench_pipeline.py BIN_DIR [--fixes 20000] [--deliverers 40] [--rate 1000] [--seconds 15]
"""

import argparse
import asyncio
import concurrent.futures
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "Tests" / "Python" / "support"))
import courier_protos  # noqa: E402
import courier_stack as stack  # noqa: E402
import grpc  # noqa: E402
import requests  # noqa: E402
import requests.adapters  # noqa: E402

TOPIC = "courier.delivery-payload-changed-location.v1"
GROUP = "hermes"
ADMIN_EMAIL = "admin@courier.test"
ADMIN_PASSWORD = "correct horse battery staple 42"
PASSWORD = "a long and secret pass phrase"
GOAL_RATE = 2000.0
GOAL_P99_MS = 100.0
FIX_SPACING = 1.2  # seconds of device time between two fixes of one deliverer (Hermes wants >= 1)
STEP_DEGREES = 0.00004  # about 4.4 m north per fix: 3.7 m/s
DEADLINE = 600.0


class BenchError(RuntimeError):
    """The benchmark could not run or a check failed; the message says which."""


# --------------------------------------------------------------------------- the stack


def start_service(bin_dir, name, env, directory, servers):
    """`courier <name>` from BIN_DIR, listed in `servers` (so it is stopped whatever happens) and
    started. It writes its JSON log straight to a file: at this load it logs a line per call."""
    service = stack.Service(name, env, directory, executable=str(bin_dir / "courier"), straight_to_file=True)
    servers.append(service)
    return service.start(timeout=180)


def start_postgres(durable):
    """A throwaway cluster with track_commit_timestamp on (it needs a restart)."""
    pg = stack.Postgres(tempfile.mkdtemp(prefix="courier-pg-bench-pipeline-"), durable=durable)
    pg.start()
    pg.psql("ALTER SYSTEM SET track_commit_timestamp = on")
    pg.stop()
    pg.start()
    if pg.psql("SHOW track_commit_timestamp").strip() != "on":
        raise BenchError("Postgres: track_commit_timestamp did not turn on")
    return pg


def sql(pg, statement):
    return pg.psql(statement, database="courier").strip()


# --------------------------------------------------------------------------- people and payloads


def auth(token):
    return {"Authorization": f"Bearer {token}"}


class SourceAddress(requests.adapters.HTTPAdapter):
    """Connects from a given loopback address: Asgardian allows 10 sign-ups per client address and
    10 minutes, and a benchmark's users come from one machine."""

    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(index):
    """A requests session from loopback address 127.0.<1 + index // 250>.<1 + index % 250>."""
    session = requests.Session()
    session.mount("http://", SourceAddress(f"127.0.{1 + index // 250}.{1 + index % 250}"))
    return session


def call(method, url, what, token=None, body=None, session=requests):
    response = session.request(method, url, headers=auth(token) if token else {}, json=body, timeout=60)
    if response.status_code != 200:
        raise BenchError(f"{what}: {method} {url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def login(asgardian, address, session):
    return call("POST", f"{asgardian.http}/auth/login", "login",
                body={"email": address, "password": PASSWORD}, session=session)["tokens"]["accessToken"]


def sign_up(asgardian, name, session):
    address = f"{name.lower()}-{uuid.uuid4().hex[:10]}@courier.test"
    body = call("POST", f"{asgardian.http}/auth/signup", "sign-up",
                body={"email": address, "password": PASSWORD, "displayName": name}, session=session)
    return body["user"]["userId"], address


def set_up_route(index, asgardian, hermes, admin):
    """One deliverer carrying one picked-up payload followed by its recipient: (deliverer token)."""
    session = client(index)  # two sign-ups per client address
    deliverer_user, deliverer_email = sign_up(asgardian, f"Deliverer{index}", session)
    call("PUT", f"{asgardian.http}/user/admin/users/{deliverer_user}/roles", "deliverer role", admin,
         {"roles": ["ROLE_USER", "ROLE_DELIVERER"]})
    deliverer_token = login(asgardian, deliverer_email, session)  # a token that carries the new role
    deliverer_id = call("POST", f"{hermes.http}/tracking/admin/deliverers", "register deliverer", admin,
                        {"userId": deliverer_user, "displayName": f"Deliverer {index}"})["deliverer"]["delivererId"]
    recipient, recipient_email = sign_up(asgardian, f"Recipient{index}", session)
    recipient_token = login(asgardian, recipient_email, session)
    payload = call("POST", f"{hermes.http}/tracking/admin/payloads", "register payload", admin,
                   {"title": f"Parcel {index}", "description": "one box", "recipientUserId": recipient})["payload"]
    payload_id, code = payload["deliveryPayloadId"], payload["trackingCode"]
    call("PUT", f"{hermes.http}/tracking/admin/payloads/{payload_id}/deliverer", "assign", admin,
         {"delivererId": deliverer_id})
    call("PUT", f"{hermes.http}/tracking/admin/payloads/{payload_id}/status", "pick up", admin,
         {"status": "DELIVERY_PAYLOAD_STATUS_PICKED_UP", "note": "collected"})
    call("POST", f"{hermes.http}/tracking/payload/{code}", "subscribe", recipient_token, {"title": f"My parcel {index}"})
    return deliverer_token


# --------------------------------------------------------------------------- fixes


class Device:
    """A deliverer's device: walks north from its start, one fix per FIX_SPACING s of device time."""

    def __init__(self, pb, index, start):
        self.pb = pb
        self.latitude = 52.40 + 0.01 * (index % 20)
        self.longitude = 13.30 + 0.01 * (index // 20)
        self.clock = start

    def next(self):
        self.latitude += STEP_DEGREES
        self.clock += FIX_SPACING
        location = self.pb.common.Location(accuracy_meters=8.0, speed_meters_per_second=3.7, heading_degrees=0.0)
        location.point.latitude, location.point.longitude = round(self.latitude, 7), self.longitude
        seconds = int(self.clock)
        location.recorded_at.seconds, location.recorded_at.nanos = seconds, int((self.clock - seconds) * 1e9)
        return self.pb.hermes.ReportLocationRequest(location=location)


class Devices:
    """The deliverers' devices as one client: a gRPC asyncio channel and event loop in this thread.

    The driver shares the two cores with the stack it measures. One loop drives all streams, where
    blocking request iterators took a grpcio thread each: in the sustained phase the driver then
    used 30-49 % of a core instead of 46-58 %. Paced at 1,000 fixes/s it takes 17-19 % against
    19-21 % (`top`), and the p99 did not change (three runs each, in turn)."""

    def __init__(self, pb, address):
        self.loop = asyncio.new_event_loop()
        self.channel = self.loop.run_until_complete(self._open(address))
        self.stub = pb.hermes_grpc.DelivererServiceStub(self.channel)

    @staticmethod
    async def _open(address):
        return grpc.aio.insecure_channel(address)

    def close(self):
        self.loop.run_until_complete(self.channel.close())
        self.loop.close()

    def stream_all(self, tokens, batches, pace=None):
        """One ReportLocation stream per deliverer, all at once; with `pace` (interval, stagger),
        deliverer i sends its request k at `start + i * stagger + k * interval`, else as fast as the
        streams take them. Returns (accepted, rejected, first send as epoch seconds, last reply as
        epoch seconds, some rejection reasons)."""
        return self.loop.run_until_complete(self._stream_all(tokens, batches, pace))

    async def _stream_all(self, tokens, batches, pace):
        first_send = time.time() + (0.2 if pace else 0.0)
        start = self.loop.time() + 0.2

        async def stream(index, token, batch):
            call = self.stub.ReportLocation(metadata=(("authorization", f"Bearer {token}"),), timeout=DEADLINE)
            for k, request in enumerate(batch):
                if pace:
                    interval, stagger = pace
                    delay = start + index * stagger + k * interval - self.loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await call.write(request)
            await call.done_writing()
            return await call

        replies = await asyncio.gather(*(stream(i, t, b) for i, (t, b) in enumerate(zip(tokens, batches))))
        accepted = sum(r.accepted_count for r in replies)
        rejected = sum(r.rejected_count for r in replies)
        reasons = [x.reason for r in replies for x in r.rejections[:3]]
        return accepted, rejected, first_send, time.time(), reasons


def wait_processed(pg, after_seq, expected, what):
    """Until the `hermes` group processed `expected` ChangedLocation events with seq > after_seq."""
    deadline = time.monotonic() + DEADLINE
    while True:
        row = sql(pg, f"""
            SELECT count(*) FILTER (WHERE d.status = 'processed'), count(*) FILTER (WHERE d.status = 'dead'), count(*)
            FROM event_source.events e
            LEFT JOIN event_source.deliveries d ON d.event_id = e.id AND d.consumer = '{GROUP}'
            WHERE e.topic = '{TOPIC}' AND e.seq > {after_seq}""")
        processed, dead, total = map(int, row.split("|"))
        if dead:
            raise BenchError(f"{what}: {dead} events dead-lettered by {GROUP}:\n" + sql(pg, f"""
                SELECT d.last_error FROM event_source.deliveries d WHERE d.status = 'dead' LIMIT 3"""))
        if processed >= expected:
            if total != expected:
                raise BenchError(f"{what}: {total} ChangedLocation events for {expected} fixes (one payload each)")
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: only {processed} of {expected} events processed after {DEADLINE:.0f} s")
        time.sleep(0.2)


def driver_cpu():
    """CPU seconds of this process (user + system), to show the driver is not the bottleneck."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def last_seq(pg):
    return int(sql(pg, "SELECT coalesce(max(seq), 0) FROM event_source.events"))


def latencies(pg, after_seq):
    """Percentiles in ms of commit-of-processing minus occurred_at, and claim minus occurred_at."""
    row = sql(pg, f"""
        WITH l AS (
          SELECT extract(epoch FROM pg_xact_commit_timestamp(d.xmin) - e.occurred_at) * 1000 AS committed,
                 extract(epoch FROM d.processed_at - e.occurred_at) * 1000 AS claimed,
                 extract(epoch FROM e.published_at - e.occurred_at) * 1000 AS published
          FROM event_source.events e
          JOIN event_source.deliveries d ON d.event_id = e.id AND d.consumer = '{GROUP}' AND d.status = 'processed'
          WHERE e.topic = '{TOPIC}' AND e.seq > {after_seq})
        SELECT count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY committed), percentile_cont(0.99) WITHIN GROUP (ORDER BY committed),
               max(committed),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY claimed), percentile_cont(0.99) WITHIN GROUP (ORDER BY claimed),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY published), percentile_cont(0.99) WITHIN GROUP (ORDER BY published)
        FROM l""")
    values = row.split("|")
    return int(values[0]), [float(v) for v in values[1:]]


def processed_window(pg, after_seq):
    """(first occurred_at, last processing commit) as epoch seconds, of the events after `after_seq`."""
    row = sql(pg, f"""
        SELECT extract(epoch FROM min(e.occurred_at)), extract(epoch FROM max(pg_xact_commit_timestamp(d.xmin)))
        FROM event_source.events e
        JOIN event_source.deliveries d ON d.event_id = e.id AND d.consumer = '{GROUP}'
        WHERE e.topic = '{TOPIC}' AND e.seq > {after_seq}""")
    first, last = row.split("|")
    return float(first), float(last)


# --------------------------------------------------------------------------- main


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", type=pathlib.Path)
    parser.add_argument("--fixes", type=int, default=20_000, help="fixes of the sustained run, in all")
    parser.add_argument("--deliverers", type=int, default=40, help="deliverers (one payload and stream each)")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixes/s of the latency run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the latency run")
    parser.add_argument("--warmup", type=int, default=400, help="fixes sent (and processed) before measuring")
    parser.add_argument("--events-bin-dir", type=pathlib.Path,
                        help="the folder of the courier-events that creates the event store's tables (default BIN_DIR)")
    parser.add_argument("--no-durable", dest="durable", action="store_false",
                        help="Postgres with fsync and synchronous_commit off (default: durable, as in production)")
    args = parser.parse_args(argv)
    if args.deliverers < 1 or args.fixes < args.deliverers or args.rate <= 0 or args.seconds <= 0:
        parser.error("need --deliverers >= 1, --fixes >= --deliverers, --rate > 0, --seconds > 0")
    events_bin = (args.events_bin_dir or args.bin_dir) / "courier-events"
    for binary in (args.bin_dir / "courier", events_bin):
        if not os.access(binary, os.X_OK):
            parser.error(f"{binary} is not an executable (build it first)")
    per_deliverer = args.fixes // args.deliverers
    fixes = per_deliverer * args.deliverers
    latency_per = max(1, round(args.rate * args.seconds / args.deliverers))
    warm_per = max(1, args.warmup // args.deliverers)
    device_seconds = (warm_per + per_deliverer + latency_per + 10) * FIX_SPACING
    if device_seconds > 20 * 3600:
        parser.error("too many fixes per deliverer: their device times would be older than Hermes' 24 h limit")

    pb = courier_protos.load()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="courier-bench-pipeline-"))
    pg = tansu = None
    servers = []
    try:
        pg = start_postgres(args.durable)
        pg.prepare_courier_database("courier", bin_dir=events_bin.parent)
        pg.prepare_courier_database("iris_db")
        tansu = stack.Tansu(scratch / "tansu").start()
        iris_grpc_port = stack.free_port()
        asgardian = start_service(args.bin_dir, "asgardian", {
            "ASGARDIAN_DATABASE_URL": pg.url(user="asgardian", database="courier"),
            "ASGARDIAN_GRPC_PORT": "0", "ASGARDIAN_HTTP_PORT": "0",
            "ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ASGARDIAN_KEY_FILE": str(scratch / "asgardian-signing-key"),
            "ASGARDIAN_SCRYPT_LOG_N": "12",  # set-up speed only; the measured path checks no passwords
            "COURIER_KAFKA_BOOTSTRAP": tansu.bootstrap,
            "COURIER_IRIS_ADDRESS": f"127.0.0.1:{iris_grpc_port}",
        }, scratch / "asgardian", servers)
        iris = start_service(args.bin_dir, "iris", {
            "IRIS_DATABASE_URL": pg.url(user="iris", database="iris_db"),
            "IRIS_GRPC_PORT": str(iris_grpc_port), "IRIS_HTTP_PORT": "0",
            "IRIS_VAPID_KEY_FILE": str(scratch / "iris-vapid"),
            "IRIS_MAIL_TRANSPORT": "maildrop", "IRIS_MAIL_DROP_DIR": str(scratch / "mail-drop"),
            "COURIER_IDENTITY_ADDRESS": asgardian.grpc,
        }, scratch / "iris", servers)
        hermes = start_service(args.bin_dir, "hermes", {
            "HERMES_DATABASE_URL": pg.url(user="hermes", database="courier"),
            "HERMES_GRPC_PORT": "0", "HERMES_HTTP_PORT": "0",
            "HERMES_MAIL_INTERVAL": "1h",  # throttled as in production: one mail per payload here, a push per fix
            "HERMES_TRACKING_URL": "https://courier.test/app/tracking",
            "HERMES_BUCKET_FOLDER": str(scratch / "receipts"),
            "COURIER_KAFKA_BOOTSTRAP": tansu.bootstrap,
            "COURIER_IRIS_ADDRESS": iris.grpc,
            "COURIER_IDENTITY_ADDRESS": asgardian.grpc,
        }, scratch / "hermes", servers)

        settings = pg.psql("SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings "
                           "WHERE name IN ('fsync', 'synchronous_commit')").strip()
        print(f"bench-pipeline: courier from {args.bin_dir}; postgres {settings}; {args.deliverers} deliverers, "
              f"one payload and one subscriber each", flush=True)

        admin = call("POST", f"{asgardian.http}/auth/login", "admin login",
                     body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["tokens"]["accessToken"]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            tokens = list(pool.map(lambda i: set_up_route(i, asgardian, hermes, admin), range(args.deliverers)))
        print(f"bench-pipeline: set up in {time.monotonic() - started:.1f} s", flush=True)

        device_start = time.time() - device_seconds - 60
        devices = [Device(pb, i, device_start) for i in range(args.deliverers)]
        client = Devices(pb, hermes.grpc)

        # Warm-up: connections, caches, the first (mailed) event of every payload, JIT-free but cold pools.
        seq = last_seq(pg)
        batches = [[d.next() for _ in range(warm_per)] for d in devices]
        accepted, rejected, _, _, reasons = client.stream_all(tokens, batches)
        if rejected or accepted != warm_per * args.deliverers:
            raise BenchError(f"warm-up: {accepted} accepted, {rejected} rejected (reasons {reasons})")
        wait_processed(pg, seq, accepted, "warm-up")

        # (a) sustained.
        seq = last_seq(pg)
        batches = [[d.next() for _ in range(per_deliverer)] for d in devices]
        cpu = driver_cpu()
        accepted, rejected, first_send, last_reply, reasons = client.stream_all(tokens, batches)
        if rejected or accepted != fixes:
            raise BenchError(f"sustained: {accepted} of {fixes} accepted, {rejected} rejected (reasons {reasons})")
        intake = fixes / (last_reply - first_send)
        intake_cpu = (driver_cpu() - cpu) / (last_reply - first_send)
        wait_processed(pg, seq, fixes, "sustained")
        _, last_processed = processed_window(pg, seq)
        sustained = fixes / (last_processed - first_send)
        _, sustained_latency = latencies(pg, seq)

        # (b) latency at a fixed rate.
        seq = last_seq(pg)
        interval = args.deliverers / args.rate
        batches = [[d.next() for _ in range(latency_per)] for d in devices]
        cpu = driver_cpu()
        accepted, rejected, first_send, last_reply, reasons = client.stream_all(
            tokens, batches, pace=(interval, interval / args.deliverers))
        paced_cpu = (driver_cpu() - cpu) / (last_reply - first_send)
        sent = latency_per * args.deliverers
        if rejected or accepted != sent:
            raise BenchError(f"latency: {accepted} of {sent} accepted, {rejected} rejected (reasons {reasons})")
        achieved = sent / (last_reply - first_send)
        wait_processed(pg, seq, sent, "latency")
        count, (p50, p99, worst, claim50, claim99, pub50, pub99) = latencies(pg, seq)
        client.close()

        # The handler's outside work: one Iris push per event (one subscriber each), mail throttled.
        total = int(sql(pg, f"SELECT count(*) FROM event_source.events WHERE topic = '{TOPIC}'"))
        keys = sql(pg, f"SELECT string_agg(id::text, ',') FROM event_source.events WHERE topic = '{TOPIC}'").split(",")
        iris_rows = pg.psql("SELECT channel, split_part(idempotency_key, ':', 1) FROM iris.deliveries",
                            database="iris_db").split()
        ids = set(keys)
        pushes = sum(1 for r in iris_rows if r.split("|")[0] == "2" and r.split("|")[1] in ids)
        mails = sum(1 for r in iris_rows if r.split("|")[0] == "1" and r.split("|")[1] in ids)
        if pushes != total:
            raise BenchError(f"Iris has {pushes} pushes for {total} ChangedLocation events (one subscriber each)")
        print()
        print(f"{'measure':44} {'result':>14}   goal")
        print(f"{'sustained fixes/s (first send -> last processed)':44} {sustained:14,.0f}   >= {GOAL_RATE:,.0f}  "
              f"{'met' if sustained >= GOAL_RATE else 'NOT met'}")
        print(f"{'  of which gRPC intake fixes/s (streams done)':44} {intake:14,.0f}   "
              f"(this driver used {intake_cpu:.0%} of a core meanwhile)")
        print(f"{'  fix->processed p50 / p99 ms under that load':44} {sustained_latency[0]:7.0f} /{sustained_latency[1]:5.0f}")
        print(f"{f'latency run: {sent} fixes, achieved fixes/s':44} {achieved:14,.0f}   {args.rate:,.0f}  "
              f"(this driver used {paced_cpu:.0%} of a core meanwhile)")
        print(f"{'  fix->processed p50 ms':44} {p50:14.1f}")
        print(f"{'  fix->processed p99 ms':44} {p99:14.1f}   <= {GOAL_P99_MS:.0f}  "
              f"{'met' if p99 <= GOAL_P99_MS else 'NOT met'}")
        print(f"{'  fix->processed max ms':44} {worst:14.1f}")
        print(f"{'  fix->published (relay) p50 / p99 ms':44} {pub50:7.1f} /{pub99:6.1f}")
        print(f"{'  fix->claimed by consumer p50 / p99 ms':44} {claim50:7.1f} /{claim99:6.1f}")
        print(f"(processed = commit of the `hermes` group's transaction; {count} events in the latency run; "
              f"Iris: {pushes} pushes and {mails} tracking mails for {total} ChangedLocation events)")
        return 0
    except (BenchError, stack.StartError, grpc.RpcError) as error:
        print(f"bench-pipeline: {error}", file=sys.stderr)
        for server in servers:
            # The services' own words on what went wrong: their warnings and errors, last ones first.
            with open(server.log, "rb") as log:
                troubles = [line.decode("utf-8", "replace").rstrip() for line in log
                            if b'"level":"error"' in line or b'"level":"warning"' in line]
            print(f"--- {server.name}: {len(troubles)} warnings and errors; the last ones:", file=sys.stderr)
            print("\n".join(troubles[-8:]) or stack.tail(server.log, 1500), file=sys.stderr)
        return 1
    finally:
        for server in reversed(servers):
            server.stop()
        if tansu is not None:
            tansu.stop()
        if pg is not None:
            pg.stop(remove=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
