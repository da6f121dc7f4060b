#!/usr/bin/env python3
"""Benchmark (not a test): GetUserData-style unary RPC, our nghttp2 transport vs grpc-swift-nio-transport,
loaded by h2load with a gRPC-framed body. Builds release, runs each load three times per transport, one
after the other, and prints req/s, mean latency and server RSS, then the ratios ours/NIO.

Usage: python3 Benchmarks/run.py [--quick]
"""
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
LOADS = [("c16 m32", ["-c", "16", "-m", "32", "-n", "200000"]), ("c1 m1", ["-c", "1", "-m", "1", "-n", "20000"])]
if "--quick" in sys.argv:
    LOADS = [("c16 m32", ["-c", "16", "-m", "32", "-n", "50000"]), ("c1 m1", ["-c", "1", "-m", "1", "-n", "5000"])]
RUNS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body_file():
    request = b"\x0a\x07user-42"  # field 1 (user_id), 7 bytes
    framed = b"\x00" + len(request).to_bytes(4, "big") + request
    path = HERE / ".build" / "getuserdata.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(framed)
    return path


def h2load(port, args, body):
    command = [
        "h2load", *args, "-d", str(body),
        "-H", "content-type: application/grpc", "-H", "te: trailers",
        f"http://127.0.0.1:{port}/bench.Users/GetUserData",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out).group(1))
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out).group(1)
    ok = int(re.search(r"(\d+) succeeded", out).group(1))
    return rps, mean, ok


def to_ms(value):
    number = float(re.match(r"[\d.]+", value).group(0))
    if value.endswith("us"):
        return number / 1000
    if value.endswith("ms"):
        return number
    return number * 1000


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    subprocess.run(["swift", "build", "-c", "release"], cwd=HERE, check=True)
    binary = pathlib.Path(
        subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()
    ) / "bench-server"
    body = body_file()
    results = {}
    for transport in ("nghttp2", "nio"):
        port = free_port()
        server = subprocess.Popen([str(binary), "--transport", transport, "--port", str(port)])
        try:
            for _ in range(200):  # readiness by probing
                try:
                    if h2load(port, ["-n", "1"], body)[2] == 1:
                        break
                except Exception:
                    pass
                time.sleep(0.05)
            else:
                raise SystemExit(f"bench-server ({transport}) did not answer")
            for name, args in LOADS:
                for run in range(RUNS):
                    rps, mean, ok = h2load(port, args, body)
                    rss = rss_mib(server.pid)
                    results.setdefault((transport, name), []).append((rps, to_ms(mean)))
                    print(f"{transport:8} {name:8} run {run + 1}: {rps:10.0f} req/s  mean {to_ms(mean):7.3f} ms  ok {ok}  server RSS {rss:6.1f} MiB", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name, _ in LOADS:
        ours = statistics.median(r for r, _ in results[("nghttp2", name)])
        nio = statistics.median(r for r, _ in results[("nio", name)])
        ours_ms = statistics.median(m for _, m in results[("nghttp2", name)])
        nio_ms = statistics.median(m for _, m in results[("nio", name)])
        print(f"{name}: ours/NIO throughput {ours / nio:.2f}x ({ours:.0f} vs {nio:.0f} req/s), mean latency ours {ours_ms:.3f} ms vs NIO {nio_ms:.3f} ms")
    print("C++ (C-core) anchor: not run (libgrpc++-dev service not written yet)")


if __name__ == "__main__":
    main()
