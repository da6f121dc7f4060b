"""Starts the gateway's sample server (courier-gateway-sample) on a free loopback port.

The REST tests import this helper; it needs no conftest.py. The server prints
`listening on 127.0.0.1:<port>` once it accepts connections; readiness is then confirmed by probing
/healthz (never by sleeping), and the process is stopped by its PID.
"""

import contextlib
import os
import pathlib
import re
import subprocess

import requests

ROOT = pathlib.Path(__file__).resolve().parents[3]
BINARY = ROOT / ".build" / "debug" / "courier-gateway-sample"


def binary() -> pathlib.Path:
    """The sample server, built first if `swift build --build-tests` has not made it yet."""
    if not BINARY.exists():
        subprocess.run(
            ["nice", "-n", "10", "swift", "build", "--product", "courier-gateway-sample"],
            cwd=ROOT,
            check=True,
        )
    return BINARY


@contextlib.contextmanager
def running(*arguments: str):
    """Yields the base URL of a running sample server; stops it afterwards."""
    env = dict(os.environ, LOG_LEVEL=os.environ.get("LOG_LEVEL", "error"))
    process = subprocess.Popen(
        [str(binary()), "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        if not match:
            process.kill()
            _, stderr = process.communicate(timeout=30)
            raise RuntimeError(f"courier-gateway-sample failed to start: {line!r} {stderr}")
        base = f"http://127.0.0.1:{match.group(1)}"
        last_error = None
        for _ in range(50):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError as error:
                last_error = error
        else:
            raise RuntimeError(f"courier-gateway-sample never answered /healthz: {last_error}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
