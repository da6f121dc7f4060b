#!/usr/bin/env python3
"""Writes the golden contract fixtures under Tests/Contract/Fixtures/.

For every request and response message of every RPC in a `courier.*` package, every event message
(annotated with `(courier.options.v1.event)`) and the event envelope, it builds a canonical instance
with every field set to a value derived from the field alone (so the same contract always yields the
same bytes), and writes:

  <full.Name>.binpb    the deterministic binary encoding
  <full.Name>.json     the proto3 JSON mapping
  expectations.tsv     a few named top-level values per message, for readers in other languages

Fixtures are golden: an existing fixture is never rewritten, so that what an earlier version of a
contract encoded stays checked. Run it after adding a message; pass --force only to rewrite
fixtures of a contract that has not been released.

Snapshots keep whole sets from earlier versions: `--snapshot NAME` first brings the current set up
to date, then copies it to snapshots/NAME/ with a MANIFEST.tsv of SHA-256 sums. A snapshot is never
written again (an existing NAME is refused, and nothing else here writes under snapshots/);
Tests/Python/test_fixture_readers.py checks the sums and decodes every snapshot with the current
contracts. Take one before releasing a change to the contracts.

Usage: .venv/bin/python scripts/make_fixtures.py [--force] [--snapshot NAME]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from proto_lint import wire_fields  # scripts/ is on the path when this script runs

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
FIXTURES = ROOT / "Tests" / "Contract" / "Fixtures"
SNAPSHOTS = FIXTURES / "snapshots"
SNAPSHOT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

EVENT_OPTION = 51011
ENVELOPE_OPTION = 51012

# A fixed instant (2026-11-20T10:00:00Z); a Timestamp is this plus its nesting depth in seconds, plus 0.25 s.
BASE_SECONDS = 1_795_168_800


def load_modules(workdir: Path):
    """Compiles proto/ to Python with grpcio-tools' protoc and imports every module."""
    from grpc_tools import protoc  # noqa: PLC0415  (the venv provides it)
    import grpc_tools  # noqa: PLC0415

    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={workdir}", *files]
    if protoc.main(args) != 0:
        sys.exit("make_fixtures: protoc failed on proto/")
    sys.path.insert(0, str(workdir))
    modules = []
    # Only our own packages get fixtures; grpc.* would also clash with the grpcio package's name.
    for name in (f for f in files if f.startswith("courier/")):
        modules.append(importlib.import_module(name[: -len(".proto")].replace("/", ".") + "_pb2"))
    return modules


def has_option(message_descriptor, number: int) -> bool:
    """Whether a message's options carry the custom option `number` (read from the raw bytes)."""
    data = message_descriptor.GetOptions().SerializeToString()
    return any(field_number == number for field_number, _, _ in wire_fields(data))


def fixture_messages(modules):
    """The message descriptors that get fixtures, by full name."""
    chosen = {}
    for module in modules:
        file = module.DESCRIPTOR
        if not file.package.startswith("courier."):
            continue
        for service in file.services_by_name.values():
            for method in service.methods:
                chosen[method.input_type.full_name] = method.input_type
                chosen[method.output_type.full_name] = method.output_type
        for message in file.message_types_by_name.values():
            if has_option(message, EVENT_OPTION) or has_option(message, ENVELOPE_OPTION):
                chosen[message.full_name] = message
    return dict(sorted(chosen.items()))


def scalar_value(field, message_name: str):
    from google.protobuf.descriptor import FieldDescriptor as F  # noqa: PLC0415

    n = field.number
    t = field.type
    if t == F.TYPE_STRING:
        return f"{message_name.rsplit('.', 1)[-1]}.{field.name}"
    if t == F.TYPE_BYTES:
        return f"{field.name}\x00\xff".encode("latin-1")
    if t == F.TYPE_BOOL:
        return True
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return n + 0.25  # exact in binary, so every reader compares equal
    if t in (F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64):
        return 10_000_000_000 + n
    if t in (F.TYPE_SINT32, F.TYPE_SINT64, F.TYPE_SFIXED32):
        return -(100 + n)
    if t == F.TYPE_ENUM:
        return field.enum_type.values[-1].number
    return 100 + n  # int32, uint32, fixed32


def fill(message, stack=()):
    """Sets every field of `message` (one arm per oneof, two items per list, one map entry)."""
    from google.protobuf.descriptor import FieldDescriptor as F  # noqa: PLC0415

    descriptor = message.DESCRIPTOR
    full_name = descriptor.full_name
    if full_name == "google.protobuf.Timestamp":
        message.seconds = BASE_SECONDS + len(stack)
        message.nanos = 250_000_000
        return
    if full_name == "google.protobuf.Duration":
        message.seconds = 90
        message.nanos = 500_000_000
        return
    seen_oneofs = set()
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None:  # the first arm of each oneof (a proto3 `optional` is a oneof of one)
            if oneof.name in seen_oneofs:
                continue
            seen_oneofs.add(oneof.name)
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if is_map:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            key = scalar_value(key_field, full_name)
            if value_field.type == F.TYPE_MESSAGE:
                fill(getattr(message, field.name)[key], stack + (full_name,))
            else:
                getattr(message, field.name)[key] = scalar_value(value_field, full_name)
        elif field.type == F.TYPE_MESSAGE:
            if field.message_type.full_name in stack:
                continue  # a recursive type: one level is enough
            if field.is_repeated:
                for _ in range(2):
                    fill(getattr(message, field.name).add(), stack + (full_name,))
            else:
                fill(getattr(message, field.name), stack + (full_name,))
        elif field.is_repeated:
            value = scalar_value(field, full_name)
            second = value + "-2" if isinstance(value, str) else value
            getattr(message, field.name).extend([value, second])
        else:
            setattr(message, field.name, scalar_value(field, full_name))


def expectations(message) -> list[str]:
    """Up to four named values of a filled message, in the readers' TSV form.

    Top-level scalars come first; a message without enough of them is described through paths into
    its fields (`user.email`, `users[0].email`, `deliverer_ids[0]`). Messages without fields get none.
    """
    rows: list[str] = []
    full_name = message.DESCRIPTOR.full_name

    def row(path: str, field, value) -> None:
        from google.protobuf.descriptor import FieldDescriptor as F  # noqa: PLC0415

        if field.type == F.TYPE_STRING:
            kind, text = "string", value
        elif field.type == F.TYPE_BYTES:
            kind, text = "bytes", value.hex()
        elif field.type == F.TYPE_BOOL:
            kind, text = "bool", "true" if value else "false"
        elif field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            kind, text = "double", repr(float(value))
        elif field.type == F.TYPE_ENUM:
            kind, text = "enum", str(value)
        else:
            kind, text = "int", str(value)
        rows.append(f"{full_name}\t{path}\t{kind}\t{text}")

    def visit(current, prefix: str, depth: int) -> None:
        from google.protobuf.descriptor import FieldDescriptor as F  # noqa: PLC0415

        nested = []
        for field in current.DESCRIPTOR.fields:
            if len(rows) >= 4:
                return
            is_message = field.type == F.TYPE_MESSAGE
            if field.containing_oneof is not None and not (field.is_repeated or current.HasField(field.name)):
                continue
            if is_message and field.message_type.GetOptions().map_entry:
                continue
            if is_message:
                nested.append(field)
            elif field.is_repeated:
                row(f"{prefix}{field.name}[0]", field, getattr(current, field.name)[0])
            else:
                row(f"{prefix}{field.name}", field, getattr(current, field.name))
        if rows or depth >= 3:
            return
        for field in nested:
            value = getattr(current, field.name)
            if field.is_repeated:
                visit(value[0], f"{prefix}{field.name}[0].", depth + 1)
            elif field.message_type.full_name not in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
                visit(value, f"{prefix}{field.name}.", depth + 1)
            if rows:
                return

    visit(message, "", 0)
    return rows


def take_snapshot(name: str) -> Path:
    """Copies the current fixture set to snapshots/<name>/ with its manifest; never overwrites."""
    target = SNAPSHOTS / name
    if target.exists():
        sys.exit(f"make_fixtures: the snapshot {target.relative_to(ROOT)} exists; snapshots are never rewritten, pick another name")
    files = sorted(FIXTURES.glob("*.binpb")) + sorted(FIXTURES.glob("*.json")) + [FIXTURES / "expectations.tsv"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "proto", str(FIXTURES.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True)
    source = head.stdout.strip() if head.returncode == 0 else "no git commit"
    if dirty.stdout.strip():
        source += " plus uncommitted changes"
    SNAPSHOTS.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=SNAPSHOTS))
    try:
        rows = []
        for path in files:
            shutil.copyfile(path, scratch / path.name)
            rows.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}\t{path.name}")
        header = [
            f"# Snapshot {name} of the golden fixtures: {len(files)} files from {source}, taken {datetime.date.today().isoformat()}.",
            "# Never edit or delete these files: they are what this version of the contracts encoded.",
            "# sha256<TAB>file",
        ]
        (scratch / "MANIFEST.tsv").write_text("\n".join(header + rows) + "\n")
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rewrite existing fixtures too")
    parser.add_argument("--snapshot", metavar="NAME", help="then keep the whole set as snapshots/NAME/ (lowercase letters, digits, . _ -)")
    args = parser.parse_args()
    if args.snapshot is not None:
        if not SNAPSHOT_NAME.match(args.snapshot):
            parser.error(f"--snapshot {args.snapshot!r}: use lowercase letters, digits, '.', '_' and '-'")
        if (SNAPSHOTS / args.snapshot).exists():
            parser.error(f"--snapshot {args.snapshot}: {(SNAPSHOTS / args.snapshot).relative_to(ROOT)} exists; snapshots are never rewritten")

    from google.protobuf import json_format, message_factory  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as workdir:
        modules = load_modules(Path(workdir))
        chosen = fixture_messages(modules)
        FIXTURES.mkdir(parents=True, exist_ok=True)
        tsv_path = FIXTURES / "expectations.tsv"
        existing_rows = {}
        if tsv_path.exists():
            for line in tsv_path.read_text().splitlines():
                if line and not line.startswith("#"):
                    existing_rows.setdefault(line.split("\t", 1)[0], []).append(line)
        written = 0
        for full_name, descriptor in chosen.items():
            binary = FIXTURES / f"{full_name}.binpb"
            json_path = FIXTURES / f"{full_name}.json"
            if binary.exists() and json_path.exists() and not args.force:
                continue
            message = message_factory.GetMessageClass(descriptor)()
            fill(message)
            binary.write_bytes(message.SerializeToString(deterministic=True))
            json_path.write_text(json_format.MessageToJson(message, indent=2, sort_keys=False) + "\n")
            existing_rows[full_name] = expectations(message)
            written += 1
        header = [
            "# Named values of the golden fixtures: message<TAB>field<TAB>kind<TAB>value.",
            "# Written by scripts/make_fixtures.py; read by the Python and C fixture readers.",
        ]
        body = [row for name in sorted(existing_rows) for row in existing_rows[name]]
        tsv_path.write_text("\n".join(header + body) + "\n")
        print(f"make_fixtures: {len(chosen)} messages, {written} fixture(s) written to {FIXTURES.relative_to(ROOT)}")
    if args.snapshot is not None:
        target = take_snapshot(args.snapshot)
        print(f"make_fixtures: the set is kept as {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
