"""Property-based run of schemathesis against the live sample server's OpenAPI document: generated
requests (valid and invalid, bounded in number, deterministic) must never get a 5xx, and every
response must match the document (schema, status code, content type). The server-streaming routes
(`.../live`) never end by design and are covered by test_rest_http.py instead."""

import pathlib
import subprocess
import sys

import sample_server

SCHEMATHESIS = pathlib.Path(sys.executable).parent / "schemathesis"


def run_schemathesis(base: str, token: str, workdir):
    # Run in a scratch folder: schemathesis keeps its files in the working directory.
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--mode",
            "all",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--exclude-path-regex",
            "/live$",
            "--header",
            f"Authorization: Bearer {token}",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,
    )


def test_no_server_errors_and_no_schema_violations_as_admin(tmp_path):
    with sample_server.running() as base:
        result = run_schemathesis(base, "admin-token", tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_no_server_errors_as_a_plain_user(tmp_path):
    with sample_server.running() as base:
        result = run_schemathesis(base, "user-token", tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
