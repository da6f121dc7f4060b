"""Runs the Courier stack on embedded defaults until Ctrl-C (or SIGTERM): Postgres, the Tansu
broker, Asgardian, Iris, Hermes and nginx serving the web fronts.

By default everything lives under var/ in the checkout (the Postgres data is kept between runs, the
mail drop, the keys, the logs) and the ports are fixed so that bookmarks keep working. Every server
listens on 127.0.0.1 only. Started by scripts/run.sh after setup and build.

While it runs, `var/stack.json` says where everything is (PIDs, addresses, each service's settings)
and `var/stack.sock` takes commands from scripts/release.py: the new instances a release starts are
this process's children, so Ctrl-C stops them like the first ones.
"""

import argparse
import json
import os
import pathlib
import secrets
import signal
import socket
import socketserver
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import courier_stack as stack  # noqa: E402

FIXED_PORTS = {
    "postgres": int(os.environ.get("COURIER_PG_PORT", 55432)),
    "kafka": int(os.environ.get("COURIER_KAFKA_PORT", 59092)),
    # Each service's (gRPC, HTTP) address, held by nginx for whichever instance runs (instances
    # themselves take free ports, so that a release can start the next one beside them).
    "asgardian": (50051, 8081),
    "iris": (50052, 8082),
    "hermes": (50053, 8083),
    "web": int(os.environ.get("COURIER_WEB_PORT", 8080)),
    "grpc_ingress": int(os.environ.get("COURIER_GRPC_INGRESS_PORT", 8090)),
}
ADMIN_EMAIL = "admin@courier.localhost"


def first_admin_password(var):
    """A random password for the first admin, made once per installation and printed once; never a
    default. Afterwards the admin changes it, and Asgardian ignores the variables once an admin exists."""
    if (var / "asgardian" / "first-admin-created").exists():
        return None
    return secrets.token_urlsafe(12)


def write_state(courier, path, control):
    """Writes the running stack's description atomically (readers never see half a file)."""
    state = {"pid": os.getpid(), "control": str(control), **courier.describe()}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """`var/stack.sock`: one JSON request line per connection, answered with JSON lines: progress
    (`{"say": ...}`) and a last line with `ok` and the result or the error."""

    daemon_threads = True

    def __init__(self, path, courier, state_path):
        self.courier = courier
        self.state_path = state_path
        if path.exists():
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(str(path))
                raise stack.StartError(f"another stack already runs with {path.parent} (its control socket answers)")
            except OSError:
                path.unlink()  # left behind by a stack that did not stop cleanly
            finally:
                probe.close()
        super().__init__(str(path), ControlHandler)
        path.chmod(0o600)


class ControlHandler(socketserver.StreamRequestHandler):
    def send(self, **message):
        try:
            self.wfile.write((json.dumps(message) + "\n").encode())
            self.wfile.flush()
        except OSError:
            pass  # the client went away; the release goes on

    def handle(self):
        try:
            request = json.loads(self.rfile.readline() or b"{}")
        except ValueError:
            return self.send(ok=False, error="the request is not a JSON line")
        if request.get("command") != "release":
            return self.send(ok=False, error=f"unknown command {request.get('command')!r} (known: release)")
        courier = self.server.courier

        def say(line):
            print(f"release: {line}", flush=True)
            self.send(say=line)

        try:
            settle = float(request.get("settle", stack.DEFAULT_SETTLE))
            if settle < 0:
                raise ValueError
        except (TypeError, ValueError):
            return self.send(ok=False, error=f"settle must be a number of seconds >= 0, not {request.get('settle')!r}")
        try:
            result = courier.release(request.get("bin_dir") or str(courier.bin_dir), settle=settle,
                                     names=request.get("services") or stack.SERVICES, say=say)
        except stack.ReleaseError as error:
            print(f"release: {error}", file=sys.stderr, flush=True)
            self.send(ok=False, error=str(error))
        except Exception as error:  # noqa: BLE001 - the client must hear about it, not just this terminal
            print(f"release: unexpected {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            self.send(ok=False, error=f"unexpected {type(error).__name__}: {error}; see the stack's output")
        else:
            self.send(ok=True, released=result)
        finally:
            write_state(courier, self.server.state_path, self.server.server_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", nargs="?", help="folder of the built `courier` and `courier-events` "
                        "(default: $COURIER_BIN_DIR, else `swift build --show-bin-path`)")
    parser.add_argument("--var", default=str(stack.ROOT / "var"), help="folder for data, keys and logs (default: var/)")
    parser.add_argument("--free-ports", action="store_true",
                        help="let every server take a free port instead of the fixed ones (8080 for the web, ...)")
    args = parser.parse_args()

    var = pathlib.Path(args.var).resolve()
    bin_dir = pathlib.Path(args.bin_dir) if args.bin_dir else stack.swift_bin_dir()
    admin_password = first_admin_password(var)

    def remember_first_admin():
        # Asgardian has made the admin: from now on the variables are ignored, so this password is
        # the only one, and it is printed right away in case a later server fails to start.
        marker = var / "asgardian" / "first-admin-created"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(ADMIN_EMAIL + "\n")
        print(f"\nfirst admin: {ADMIN_EMAIL} with the one-time password {admin_password}\n"
              "  (printed only now: log in at /admin/ and change it in the profile)\n", flush=True)

    courier = stack.CourierStack(var, bin_dir, ports=None if args.free_ports else FIXED_PORTS,
                                 admin_email=ADMIN_EMAIL, admin_password=admin_password,
                                 log=lambda line: print(line, flush=True), on_first_admin=remember_first_admin)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        courier.start()
    except stack.StartError as error:
        print(f"run: {error}", file=sys.stderr)
        return 1
    state_path, control_path = var / "stack.json", var / "stack.sock"
    try:
        control = ControlServer(control_path, courier, state_path)
    except (stack.StartError, OSError) as error:
        print(f"run: control socket {control_path}: {error}", file=sys.stderr)
        courier.stop()
        return 1
    threading.Thread(target=control.serve_forever, daemon=True).start()
    write_state(courier, state_path, control_path)
    try:
        print(f"\nCourier is running at {courier.web_url}/app/ (admins: {courier.web_url}/admin/). "
              "Ctrl-C stops everything; scripts/release.py releases a new build.", flush=True)
        while not stop.is_set():
            ended = courier.stopped_on_their_own()
            if ended:
                for name, code in ended:
                    print(f"{name} stopped on its own (exit {code}); see {var / 'logs'} and {var / 'nginx'}",
                          file=sys.stderr)
                return 1
            stop.wait(1.0)
        return 0
    finally:
        control.shutdown()
        control.server_close()
        control_path.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        courier.stop()


if __name__ == "__main__":
    sys.exit(main())
