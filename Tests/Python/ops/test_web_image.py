"""deploy/nginx/web.conf, the web image's server, on Debian's nginx: the fronts with deep-link
fallback, /healthz, nothing else; and the image's HEALTHCHECK command run against it. The file's
port and root are moved to a free port and a throwaway folder; everything else is as shipped."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import requests

from ops_tools import DEPLOY, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import courier_stack as stack  # noqa: E402

IMAGE_ROOT = "/usr/share/courier/web"


@pytest.fixture
def web(tmp_path):
    tmp_path.chmod(0o755)
    root = tmp_path / "web"
    for front, title in (("user-client", "Courier"), ("admin-client", "Courier admin")):
        (root / front).mkdir(parents=True)
        (root / front / "index.html").write_text(f"<!doctype html><title>{title}</title>")
        (root / front / "app.js").write_text("export {};\n")
    port = stack.free_port()
    site = (DEPLOY / "nginx" / "web.conf").read_text()
    assert "listen 8080;" in site and IMAGE_ROOT in site
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace(IMAGE_ROOT, str(root))
    (tmp_path / "web.conf").write_text(site)
    temp = tmp_path / "tmp"
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / name).mkdir(parents=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'} warn;\n"
        "events { worker_connections 64; }\nhttp {\n    include /etc/nginx/mime.types;\n"
        f"    access_log off;\n"
        + "".join(f"    {n}_temp_path {temp / n};\n" for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"    include {tmp_path / 'web.conf'};\n}}\n")
    command = [stack.NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, f"nginx -t refused web.conf:\n{checked.stderr}"
    process = subprocess.Popen([*command, "-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        stack.wait_for(lambda: stack.port_open(port), f"nginx with web.conf on 127.0.0.1:{port}", process=process,
                       log=tmp_path / "error.log")
        yield f"http://127.0.0.1:{port}", port
    finally:
        process.send_signal(3)  # SIGQUIT: nginx's graceful stop
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_web_conf_serves_the_fronts_and_nothing_else(web):
    url, _ = web
    assert requests.get(f"{url}/healthz", timeout=5).text == "ok\n"
    root = requests.get(url + "/", allow_redirects=False, timeout=5)
    assert root.status_code == 302 and root.headers["Location"].endswith("/app/")
    for path, title in (("/app/", "Courier"), ("/app/tracking/abc", "Courier"), ("/admin/", "Courier admin"),
                        ("/admin/deliverers", "Courier admin")):
        answer = requests.get(url + path, timeout=5)
        assert answer.status_code == 200 and f"<title>{title}</title>" in answer.text, (path, answer.status_code)
        assert answer.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in answer.headers["Content-Security-Policy"]
    script = requests.get(f"{url}/app/app.js", timeout=5)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    for path in ("/metrics", "/auth/login", "/tracking/payload", "/nope"):
        assert requests.get(url + path, timeout=5).status_code == 404, path


def test_web_image_healthcheck_command(web):
    url, port = web
    dockerfile = (ROOT / "Dockerfile").read_text()
    stage = dockerfile.split(" AS web", 1)[1]
    command = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", stage, re.M).group(1))
    assert command[:2] == ["bash", "-c"], command
    healthy = subprocess.run(["bash", "-c", command[2].replace("/8080", f"/{port}")], capture_output=True, timeout=10)
    assert healthy.returncode == 0, healthy.stderr
    unused = stack.free_port()
    unhealthy = subprocess.run(["bash", "-c", command[2].replace("/8080", f"/{unused}")], capture_output=True, timeout=10)
    assert unhealthy.returncode != 0
