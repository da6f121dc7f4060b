#!/usr/bin/env python3
"""Benchmark (not a test): GetUserData-style unary RPC, our nghttp2 transport vs grpc-swift-nio-transport,
with gRPC C++ (C-core) as the anchor, loaded by h2load with a gRPC-framed body. Builds release (and the
C++ server from cpp/ with protoc, grpc_cpp_plugin and g++: Debian libgrpc++-dev, protobuf-compiler-grpc),
runs each load three times per server, one after the other, and prints req/s, mean latency and server
RSS, then the ratios ours/NIO and ours/C++.

Usage: python3 Benchmarks/run.py [--quick] [--runs N]
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
RUNS = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3


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


def build_cpp():
    """Builds the C++ anchor server into .build/cpp; returns its path."""
    out = HERE / ".build" / "cpp"
    out.mkdir(parents=True, exist_ok=True)
    plugin = subprocess.run(["which", "grpc_cpp_plugin"], capture_output=True, text=True).stdout.strip()
    if not plugin:
        raise SystemExit("grpc_cpp_plugin is missing: apt-get install protobuf-compiler-grpc libgrpc++-dev")
    subprocess.run(
        ["protoc", f"-I{HERE / 'cpp'}", f"--cpp_out={out}", f"--grpc_out={out}", f"--plugin=protoc-gen-grpc={plugin}", "bench.proto"],
        check=True,
    )
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "grpc++", "protobuf"], capture_output=True, text=True, check=True).stdout.split()
    binary = out / "bench-server-cpp"
    sources = [HERE / "cpp" / "bench_server.cc", out / "bench.pb.cc", out / "bench.grpc.pb.cc"]
    if not binary.exists() or any(source.stat().st_mtime > binary.stat().st_mtime for source in sources):
        subprocess.run(["g++", "-O2", "-std=c++17", "-o", str(binary), *map(str, sources), f"-I{out}", *flags], check=True)
    return binary


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
    cpp = build_cpp()
    body = body_file()
    results = {}
    for transport in ("nghttp2", "nio", "cpp"):
        port = free_port()
        if transport == "cpp":
            server = subprocess.Popen([str(cpp), "--port", str(port)])
        else:
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
        rps = {t: statistics.median(r for r, _ in results[(t, name)]) for t in ("nghttp2", "nio", "cpp")}
        ms = {t: statistics.median(m for _, m in results[(t, name)]) for t in ("nghttp2", "nio", "cpp")}
        for other, label in (("nio", "NIO"), ("cpp", "C++")):
            print(
                f"{name}: ours/{label} throughput {rps['nghttp2'] / rps[other]:.2f}x ({rps['nghttp2']:.0f} vs {rps[other]:.0f} req/s), "
                f"mean latency ours {ms['nghttp2']:.3f} ms vs {label} {ms[other]:.3f} ms"
            )


if __name__ == "__main__":
    main()
