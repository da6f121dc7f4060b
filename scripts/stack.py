"""Runs the Courier stack on embedded defaults until Ctrl-C (or SIGTERM): Postgres, the Tansu
broker, Asgardian, Iris, Hermes and nginx serving the web fronts.

By default everything lives under var/ in the checkout (the Postgres data is kept between runs, the
mail drop, the keys, the logs) and the ports are fixed so that bookmarks keep working. Every server
listens on 127.0.0.1 only. Started by scripts/run.sh after setup and build.
"""

import argparse
import os
import pathlib
import secrets
import signal
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import courier_stack as stack  # noqa: E402

FIXED_PORTS = {
    "postgres": int(os.environ.get("COURIER_PG_PORT", 55432)),
    "kafka": int(os.environ.get("COURIER_KAFKA_PORT", 59092)),
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
    try:
        print(f"\nCourier is running at {courier.web_url}/app/ (admins: {courier.web_url}/admin/). "
              "Ctrl-C stops everything.", flush=True)
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
        courier.stop()


if __name__ == "__main__":
    sys.exit(main())
