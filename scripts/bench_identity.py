"""Driver of scripts/bench-identity.sh (a benchmark, not a test): what checking a token costs.

Starts a throwaway Postgres cluster, a Tansu broker (Asgardian's event relay needs one) and the
release `courier asgardian` from BIN_DIR on free loopback ports, signs a user up over REST, then loads
two unary gRPC methods of IdentityService with h2load (c16 m32 by default):

- IsAuthenticated(access_token): JWT signature and expiry, then one query (session, user state);
- GetUserData(user_id): one query by primary key, the transport benchmark's GetUserData shape.

Each body is one gRPC message (flag byte, 4-byte big-endian length, protobuf). h2load counts HTTP
statuses only, so every run is checked through Asgardian's own `grpc_server_handled_total` counter:
the OK count must grow by exactly the requests h2load says succeeded. Prints req/s of both and
IsAuthenticated / GetUserData.

    python3 scripts/bench_identity.py BIN_DIR [--requests N] [--clients 16] [--streams 32] [--runs 3]
"""

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "Tests" / "Python" / "support"))
import courier_protos  # noqa: E402
import courier_stack as stack  # noqa: E402
import requests  # noqa: E402

SERVICE = "courier.asgardian.v1.IdentityService"


def grpc_frame(message):
    payload = message.SerializeToString()
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def start_asgardian(bin_dir, env, directory):
    """`courier asgardian` with its log in a file (not a pipe: at this load it logs a line per call);
    ready when the log has the "listening" line."""
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "asgardian.log"
    log = open(log_path, "wb")
    process = subprocess.Popen([str(bin_dir / "courier"), "asgardian"], env={**os.environ, **env}, cwd=directory,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ports = {}

    def listening():
        with open(log_path, "rb") as f:
            for raw in f:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if entry.get("message") == "listening" and "grpc_port" in entry:
                    ports.update(grpc=int(entry["grpc_port"]), http=int(entry["http_port"]))
                    return True
        return False

    stack.wait_for(listening, "courier asgardian", timeout=120, process=process, log=log_path)
    return process, ports, log_path


def handled_ok(http_port, method):
    text = requests.get(f"http://127.0.0.1:{http_port}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith("grpc_server_handled_total{") and f'grpc_method="{method}"' in line \
                and 'grpc_code="OK"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def h2load(port, method, body, clients, streams, count):
    command = ["h2load", "-c", str(clients), "-m", str(streams), "-n", str(count), "-d", str(body),
               "-H", "content-type: application/grpc", "-H", "te: trailers",
               f"http://127.0.0.1:{port}/{SERVICE}/{method}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900).stdout
    found = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    ok = re.search(r"(\d+) succeeded", out)
    if not found or not ok:
        raise SystemExit(f"bench-identity: h2load printed no result:\n{out}")
    return float(found.group(1)), int(ok.group(1))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", type=pathlib.Path)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.runs < 1:
        parser.error("--requests and --runs must be at least 1")

    pb = courier_protos.load()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="courier-bench-identity-"))
    pg = stack.Postgres(tempfile.mkdtemp(prefix="courier-pg-bench-"), durable=False)
    tansu = stack.Tansu(scratch / "tansu")
    process = None
    try:
        pg.start().prepare_courier_database("asgardian_db")
        tansu.start()
        process, ports, log_path = start_asgardian(args.bin_dir, {
            "ASGARDIAN_DATABASE_URL": pg.url(user="asgardian", database="asgardian_db"),
            "ASGARDIAN_GRPC_PORT": "0",
            "ASGARDIAN_HTTP_PORT": "0",
            "ASGARDIAN_KEY_FILE": str(scratch / "signing-key"),
            "COURIER_KAFKA_BOOTSTRAP": tansu.bootstrap,
            # No Iris here: the welcome mail of the one sign-up is retried in the background.
            "COURIER_IRIS_ADDRESS": f"127.0.0.1:{stack.free_port()}",
        }, scratch / "asgardian")

        response = requests.post(f"http://127.0.0.1:{ports['http']}/auth/signup", json={
            "email": f"bench-{uuid.uuid4().hex[:8]}@courier.test", "password": "a long bench pass phrase",
            "displayName": "Bench"}, timeout=60)
        response.raise_for_status()
        token = response.json()["tokens"]["accessToken"]
        user_id = response.json()["user"]["userId"]

        bodies = {
            "IsAuthenticated": scratch / "is-authenticated.bin",
            "GetUserData": scratch / "get-user-data.bin",
        }
        bodies["IsAuthenticated"].write_bytes(grpc_frame(pb.asgardian.IsAuthenticatedRequest(access_token=token)))
        bodies["GetUserData"].write_bytes(grpc_frame(pb.asgardian.GetUserDataRequest(user_id=user_id)))

        # Check the bodies once with a real client: the token authenticates, the user is found.
        import grpc
        with grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
            stub = pb.asgardian_grpc.IdentityServiceStub(channel)
            verdict = stub.IsAuthenticated(pb.asgardian.IsAuthenticatedRequest(access_token=token))
            assert verdict.authenticated and verdict.principal.user_id == user_id, verdict
            assert stub.GetUserData(pb.asgardian.GetUserDataRequest(user_id=user_id)).user.user_id == user_id

        print(f"bench-identity: h2load -c {args.clients} -m {args.streams} -n {args.requests}, {args.runs} runs "
              f"each, alternating; courier from {args.bin_dir}")
        results = {method: [] for method in bodies}
        warm = max(1000, args.requests // 10)
        for method, body in bodies.items():
            h2load(ports["grpc"], method, body, args.clients, args.streams, warm)
        for run in range(args.runs):
            for method, body in bodies.items():
                before = handled_ok(ports["http"], method)
                rps, succeeded = h2load(ports["grpc"], method, body, args.clients, args.streams, args.requests)
                ok = handled_ok(ports["http"], method) - before
                if succeeded != args.requests or ok != args.requests:
                    raise SystemExit(f"bench-identity: {method} run {run + 1}: h2load succeeded {succeeded}, "
                                     f"gRPC OK {ok} of {args.requests}{stack.tail(log_path)}")
                results[method].append(rps)
                print(f"  run {run + 1} {method:16} {rps:10.0f} req/s")
        median = {method: statistics.median(values) for method, values in results.items()}
        print(f"IsAuthenticated  {median['IsAuthenticated']:10.0f} req/s (median)")
        print(f"GetUserData      {median['GetUserData']:10.0f} req/s (median)")
        print(f"ratio IsAuthenticated / GetUserData: {median['IsAuthenticated'] / median['GetUserData']:.2f}")
    finally:
        if process is not None:
            stack.stop_process(process)
        tansu.stop()
        pg.stop(remove=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
