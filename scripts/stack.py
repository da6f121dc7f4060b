"""Runs the local Courier stack on embedded defaults until Ctrl-C (or SIGTERM).

Everything lives under var/ in the checkout: the Postgres cluster's data (kept between runs), the
mail drop, the VAPID key and the logs. Ports are fixed so that bookmarks keep working; every server
listens on 127.0.0.1 only. Started by scripts/run.sh after setup and build.
"""

import os
import pathlib
import secrets
import signal
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import courier_stack as stack  # noqa: E402

VAR = stack.ROOT / "var"
PORTS = {
    "postgres": int(os.environ.get("COURIER_PG_PORT", 55432)),
    "kafka": int(os.environ.get("COURIER_KAFKA_PORT", 59092)),
    "asgardian": (50051, 8081),
    "iris": (50052, 8082),
    "hermes": (50053, 8083),
}
ADMIN_EMAIL = "admin@courier.localhost"


def first_admin_password():
    """A random password for the first admin, made once per installation and printed once; never a
    default. Afterwards the admin changes it, and Asgardian ignores the variables once an admin exists."""
    marker = VAR / "asgardian" / "first-admin-created"
    if marker.exists():
        return None
    marker.parent.mkdir(parents=True, exist_ok=True)
    return secrets.token_urlsafe(12)


def main():
    bin_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else stack.swift_bin_dir()
    started = []
    stop = threading.Event()
    failed = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        pg = stack.Postgres(VAR / "postgres", port=PORTS["postgres"]).start().prepare_courier_database()
        started.append(("Postgres", pg.stop))
        print(f"postgres   127.0.0.1:{pg.port}  database courier (roles asgardian, iris, hermes; data {pg.data})", flush=True)

        broker = stack.Tansu(VAR / "tansu", port=PORTS["kafka"]).start()
        started.append(("Tansu", broker.stop))
        print(f"kafka      {broker.bootstrap}  Tansu broker (memory storage; the event store refills it)", flush=True)

        pg.prepare_courier_database(bin_dir=bin_dir)
        services = {}
        admin_password = first_admin_password()
        grpc_port, http_port = PORTS["asgardian"]
        asgardian_env = {
            "ASGARDIAN_DATABASE_URL": pg.url(user="asgardian"),
            "ASGARDIAN_GRPC_PORT": str(grpc_port),
            "ASGARDIAN_HTTP_PORT": str(http_port),
            "ASGARDIAN_KEY_FILE": str(VAR / "asgardian" / "signing-key"),
            "COURIER_KAFKA_BOOTSTRAP": broker.bootstrap,
            "COURIER_IRIS_ADDRESS": f"127.0.0.1:{PORTS['iris'][0]}",
        }
        if admin_password:
            asgardian_env["ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL"] = ADMIN_EMAIL
            asgardian_env["ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD"] = admin_password
        services["asgardian"] = stack.Service("asgardian", asgardian_env, VAR / "logs",
                                              executable=str(bin_dir / "courier")).start()
        started.append(("Asgardian", services["asgardian"].stop))
        if admin_password:
            (VAR / "asgardian" / "first-admin-created").write_text(ADMIN_EMAIL + "\n")
        print(f"asgardian  gRPC {services['asgardian'].grpc}  REST {services['asgardian'].http}", flush=True)

        grpc_port, http_port = PORTS["iris"]
        services["iris"] = stack.Service("iris", {
            "IRIS_DATABASE_URL": pg.url(user="iris"),
            "IRIS_GRPC_PORT": str(grpc_port),
            "IRIS_HTTP_PORT": str(http_port),
            "IRIS_MAIL_DROP_DIR": str(VAR / "mail-drop"),
            "IRIS_VAPID_KEY_FILE": str(VAR / "iris" / "vapid-private-key"),
            "COURIER_IDENTITY_ADDRESS": services["asgardian"].grpc,
        }, VAR / "logs", executable=str(bin_dir / "courier")).start()
        started.append(("Iris", services["iris"].stop))
        print(f"iris       gRPC {services['iris'].grpc}  REST {services['iris'].http}  (mail drop {VAR / 'mail-drop'})", flush=True)
        grpc_port, http_port = PORTS["hermes"]
        services["hermes"] = stack.Service("hermes", {
            "HERMES_DATABASE_URL": pg.url(user="hermes"),
            "HERMES_GRPC_PORT": str(grpc_port),
            "HERMES_HTTP_PORT": str(http_port),
            "HERMES_BUCKET_FOLDER": str(VAR / "hermes" / "bucket"),
            "COURIER_KAFKA_BOOTSTRAP": broker.bootstrap,
            "COURIER_IRIS_ADDRESS": services["iris"].grpc,
            "COURIER_IDENTITY_ADDRESS": services["asgardian"].grpc,
        }, VAR / "logs", executable=str(bin_dir / "courier")).start()
        started.append(("Hermes", services["hermes"].stop))
        print(f"hermes     gRPC {services['hermes'].grpc}  REST {services['hermes'].http}  (receipts {VAR / 'hermes' / 'bucket'})", flush=True)
        print(f"logs       {VAR / 'logs'}", flush=True)
        if admin_password:
            print(f"\nfirst admin: {ADMIN_EMAIL} with the one-time password {admin_password}\n"
                  "  (printed only now: log in and change it with PUT /user/profile)", flush=True)

        print("\nCourier is running. Ctrl-C stops everything.", flush=True)
        while not stop.is_set():
            for name, service in services.items():
                process = service.process
                if process.poll() is not None:
                    print(f"{name} stopped on its own (exit {process.returncode}); see {VAR / 'logs'}", file=sys.stderr)
                    failed.set()
                    stop.set()
            stop.wait(1.0)
    except stack.StartError as error:
        print(f"run: {error}", file=sys.stderr)
        return_code = 1
    else:
        return_code = 1 if failed.is_set() else 0
    finally:
        for name, stopper in reversed(started):
            print(f"stopping {name}", flush=True)
            stopper()
    return return_code


if __name__ == "__main__":
    sys.exit(main())
