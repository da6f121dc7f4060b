"""Checks of the code-generation spine that need the real SwiftPM: the build plugin's errors, and
that no generated code is committed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED_SUFFIXES = (".pb.swift", ".grpc.swift", ".courier.swift", ".index.swift")


def swift() -> str:
    found = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    if not Path(found).exists():
        pytest.fail("swift is not on PATH; the test command puts /opt/swift/usr/bin there")
    return found


def test_no_generated_swift_is_committed() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    assert files, "git ls-files listed nothing; is this a checkout?"
    generated = [f for f in files if f.endswith(GENERATED_SUFFIXES)]
    assert generated == [], f"generated code is committed: {generated}"
    in_target = sorted(f for f in files if f.startswith("Sources/Generated/"))
    assert in_target == ["Sources/Generated/Generated.swift"], f"Sources/Generated holds more than its one placeholder: {in_target}"


def test_plugin_says_what_to_fix_when_protoc_is_missing(tmp_path: Path) -> None:
    env = dict(os.environ, PROTOC_PATH=str(tmp_path / "no-such-protoc"))
    result = subprocess.run(
        [swift(), "build", "--target", "Generated"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the build succeeded without a protoc"
    assert f"PROTOC_PATH is set to '{tmp_path / 'no-such-protoc'}', which is not an executable file." in output, output[-2000:]
    assert "build planning stopped due to build-tool plugin failures" in output
