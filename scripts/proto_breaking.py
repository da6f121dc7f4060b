#!/usr/bin/env python3
"""Courier's contract evolution gate: breaking changes between two versions of proto/.

Usage: proto_breaking.py [--against REV | --against-dir DIR] [--root DIR] [--protoc PATH]
                         [--system-include DIR ...]
       proto_breaking.py --rules

It compiles the .proto files of the working tree (default root: <repo>/proto) and of a base with
`protoc --descriptor_set_out --include_source_info --include_imports`, and compares every file of
the base with the file of the same path in the working tree. The base is

  (default)          the merge base of HEAD and `main` (or `origin/main`); when that is HEAD itself
                     (on main, or a branch with nothing new), HEAD~1: the previous commit's contracts;
  --against REV      the root's folder at any revision or tag, extracted with `git archive`;
  --against-dir DIR  a folder of .proto files, compared as it is (for tests and one-off checks).

A base without the folder (the first commit) has nothing to break: the gate passes with a note.
Additions never break anything: new files, packages (a new major version `courier.x.v2` beside
`courier.x.v1`), messages, fields, enums, values, services and RPCs, and any comment.

Rules (buf's WIRE_JSON category in spirit, plus Courier's options):
  FILE_NO_DELETE                     a file of the base is still there at the same path (moving a file counts as deleting it).
  FILE_SAME_PACKAGE                  a file keeps its package; a new major version is a new package in a new folder.
  MESSAGE_NO_DELETE                  a message of the base file is still defined in that file.
  ENUM_NO_DELETE                     an enum of the base file is still defined in that file.
  SERVICE_NO_DELETE                  a service of the base file is still defined in that file.
  FIELD_NO_DELETE_UNLESS_RESERVED    a deleted field has both its number and its name reserved.
  FIELD_NO_RENUMBER                  a field keeps its number (same name, other number).
  FIELD_SAME_NAME                    the field with a number keeps its name (proto names are JSON input, REST query parameters and path variables).
  FIELD_SAME_JSON_NAME               a field keeps its JSON name (json_name).
  FIELD_SAME_TYPE                    a field keeps its type: scalar kind, message or enum type name, map key and value.
  FIELD_SAME_CARDINALITY             a field stays singular, proto3 optional, repeated or a map.
  FIELD_SAME_ONEOF                   a field stays in (or out of) the same oneof.
  RESERVED_NO_DELETE                 reserved field numbers/names and enum value numbers/names stay reserved.
  ENUM_VALUE_NO_DELETE_UNLESS_RESERVED  a deleted enum value has both its number and its name reserved.
  ENUM_VALUE_SAME_NAME               the value with a number keeps its name (enum names are their JSON form).
  RPC_NO_DELETE                      an RPC of a service is still there.
  RPC_SAME_REQUEST_TYPE              an RPC keeps its request message.
  RPC_SAME_RESPONSE_TYPE             an RPC keeps its response message.
  RPC_SAME_STREAMING                 an RPC keeps its kind: unary, client, server or bidirectional streaming.
  RPC_SAME_IDEMPOTENCY_LEVEL         an RPC keeps its idempotency_level.
  RPC_SAME_HTTP_RULE                 an RPC's (courier.options.v1.http) keeps its verb, path template and body, and is not removed.
  EVENT_SAME_TOPIC                   an event's (courier.options.v1.event) keeps its topic, and the message stays an event.
  EVENT_SAME_KEY_FIELD               an event keeps its key_field.

Output: one line per violation, `path/to/file.proto:LINE: RULE_ID: element: what changed`, sorted.
LINE comes from the working tree's file; for something that was deleted it is the line in the base
file, and the text ends in "(line N of the base)". Exit status 1 with violations; 0 and one summary
line without; 2 when the check cannot run (a bad revision, not a git checkout, protoc missing or
rejecting a file: protoc's message is shown).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proto_lint import (  # noqa: E402  (scripts/ holds the lint; its protoc helpers are shared)
    LintError,
    add_protoc_arguments,
    decode_event,
    decode_http,
    extension_bytes,
    find_protoc,
    find_well_known_types,
    print_rules,
    protobuf_missing,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
MAIN_BRANCHES = ("main", "origin/main")

RULES: dict[str, str] = {}
for _line in __doc__.split("plus Courier's options):\n", 1)[1].split("\n\n", 1)[0].splitlines():
    _rule_id, _text = _line.strip().split(None, 1)
    RULES[_rule_id] = _text
del _line, _rule_id, _text

# Field numbers of descriptor.proto, used to build SourceCodeInfo paths.
FILE_PACKAGE, FILE_MESSAGE, FILE_ENUM, FILE_SERVICE, FILE_SYNTAX = 2, 4, 5, 6, 12
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_OPTIONS = 2, 3, 4, 7
MESSAGE_RESERVED_RANGE, MESSAGE_RESERVED_NAME = 9, 10
FIELD_LABEL, FIELD_TYPE, FIELD_TYPE_NAME, FIELD_ONEOF_INDEX, FIELD_JSON_NAME = 4, 5, 6, 9, 10
ENUM_VALUE, ENUM_RESERVED_RANGE, ENUM_RESERVED_NAME = 2, 4, 5
SERVICE_METHOD = 2
METHOD_INPUT, METHOD_OUTPUT, METHOD_OPTIONS, METHOD_CLIENT_STREAMING, METHOD_SERVER_STREAMING = 2, 3, 4, 5, 6
NAME = 1
IDEMPOTENCY_LEVEL = 34
IDEMPOTENCY_NAMES = {0: "IDEMPOTENCY_UNKNOWN", 1: "NO_SIDE_EFFECTS", 2: "IDEMPOTENT"}
OPTION_HTTP, OPTION_EVENT = 51001, 51011

SCALAR_NAMES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
    8: "bool", 9: "string", 10: "group", 11: "message", 12: "bytes", 13: "uint32", 14: "enum",
    15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}
TYPE_GROUP, TYPE_MESSAGE, TYPE_ENUM = 10, 11, 14
LABEL_OPTIONAL, LABEL_REQUIRED, LABEL_REPEATED = 1, 2, 3


class GateError(Exception):
    """The gate cannot run; the text says what to fix. Exit status 2."""


# --- getting the two trees ------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def commit_of(revision: str, cwd: Path) -> str | None:
    result = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=cwd)
    return result.stdout.strip() if result.returncode == 0 else None


def default_base(cwd: Path) -> tuple[str, str]:
    """(commit, label) of the default base: the merge base with main, or HEAD~1 on main itself."""
    head = commit_of("HEAD", cwd)
    if head is None:
        raise GateError("HEAD names no commit yet; commit once, or pass --against-dir DIR")
    for branch in MAIN_BRANCHES:
        if commit_of(branch, cwd) is None:
            continue
        result = git("merge-base", "HEAD", branch, cwd=cwd)
        if result.returncode != 0:
            raise GateError(f"HEAD and {branch} have no merge base ({result.stderr.strip() or 'unrelated histories'}); pass --against REV")
        base = result.stdout.strip()
        if base != head:
            return base, f"the merge base with {branch} ({base[:10]})"
        previous = commit_of("HEAD~1", cwd)
        if previous is None:
            raise GateError(
                "HEAD is the merge base with main and HEAD~1 is not in this clone (the first commit, or a "
                "shallow clone: git fetch --deepen=1); pass --against REV"
            )
        return previous, f"HEAD~1 ({previous[:10]})"
    raise GateError(f"no branch {' or '.join(MAIN_BRANCHES)} to compare with; pass --against REV")


def extract_base(commit: str, root: Path, into: Path) -> Path | None:
    """Writes the root's folder at `commit` under `into`; None when the commit has no such folder."""
    top = git("rev-parse", "--show-toplevel", cwd=root)
    if top.returncode != 0:
        raise GateError(f"{root} is not inside a git checkout, so there is no revision to compare with; use --against-dir DIR")
    toplevel = Path(top.stdout.strip()).resolve()
    try:
        relative = root.resolve().relative_to(toplevel).as_posix()
    except ValueError:
        raise GateError(f"{root} is not inside the checkout {toplevel}") from None
    if relative == ".":
        raise GateError(f"the root {root} is the whole checkout; point --root at the proto folder")
    listed = git("ls-tree", "-d", "--name-only", commit, relative, cwd=toplevel)
    if listed.returncode != 0:
        raise GateError(f"git ls-tree {commit[:10]} {relative} failed: {listed.stderr.strip()}")
    if not listed.stdout.strip():
        return None
    archive = subprocess.run(["git", "archive", "--format=tar", commit, relative], cwd=toplevel, capture_output=True)
    if archive.returncode != 0:
        raise GateError(f"git archive {commit[:10]} {relative} failed: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / relative


def compile_tree(protoc: str, wkt: str, root: Path, which: str):
    """The descriptor set of every .proto under `root`, and the names of those files."""
    from google.protobuf import descriptor_pb2

    sources = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto") if p.is_file())
    if not sources:
        return None, set()
    with tempfile.TemporaryDirectory(prefix="proto_breaking.") as scratch:
        out = Path(scratch) / "descriptors.pb"
        command = [protoc, f"-I{root}", f"-I{wkt}", f"--descriptor_set_out={out}", "--include_source_info", "--include_imports", *sources]
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            raise GateError(f"protoc failed on {which}:\n" + (result.stderr or result.stdout).rstrip())
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return descriptor_set, set(sources)


# --- comparing --------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    rule: str
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.element}: {self.message}"


def walk_messages(messages, prefix: str, path: tuple[int, ...]):
    """Yields (full name, DescriptorProto, source path) for messages and their nested messages."""
    for index, message in enumerate(messages):
        full_name = f"{prefix}.{message.name}" if prefix else message.name
        message_path = path + ((MESSAGE_NESTED,) if path else (FILE_MESSAGE,)) + (index,)
        yield full_name, message, message_path
        yield from walk_messages(message.nested_type, full_name, message_path)


def walk_enums(file):
    """Yields (full name, EnumDescriptorProto, source path, parent message name or None)."""
    prefix = file.package
    for index, enum in enumerate(file.enum_type):
        yield (f"{prefix}.{enum.name}" if prefix else enum.name), enum, (FILE_ENUM, index), None
    for message_name, message, path in walk_messages(file.message_type, prefix, ()):
        for index, enum in enumerate(message.enum_type):
            yield f"{message_name}.{enum.name}", enum, path + (MESSAGE_ENUM, index), message_name


class Tree:
    """One compiled version of the contracts: its files and an index of every message by name."""

    def __init__(self, descriptor_set, names: set[str]):
        self.files = {f.name: f for f in descriptor_set.file if f.name in names} if descriptor_set else {}
        self.messages: dict[str, object] = {}
        self.defined_in: dict[str, str] = {}
        for f in descriptor_set.file if descriptor_set else []:
            for full_name, message, _ in walk_messages(f.message_type, f.package, ()):
                self.messages[full_name] = message
                self.defined_in[full_name] = f.name
            for full_name, _, _, _ in walk_enums(f):
                self.defined_in[full_name] = f.name
            for service in f.service:
                self.defined_in[f"{f.package}.{service.name}" if f.package else service.name] = f.name
        self.locations = {
            name: {tuple(loc.path): loc for loc in f.source_code_info.location} for name, f in self.files.items()
        }

    def line(self, file_name: str, *paths: tuple[int, ...]) -> int:
        locations = self.locations.get(file_name, {})
        for path in paths:
            location = locations.get(tuple(path))
            if location is not None:
                return location.span[0] + 1
        return 1

    def map_entry(self, field):
        """The synthesized map entry message of a map field, or None."""
        if field.type != TYPE_MESSAGE:
            return None
        entry = self.messages.get(field.type_name.lstrip("."))
        return entry if entry is not None and entry.options.map_entry else None

    def type_text(self, field) -> str:
        entry = self.map_entry(field)
        if entry is not None:
            key, value = sorted(entry.field, key=lambda f: f.number)
            return f"map<{self.type_text(key)}, {self.type_text(value)}>"
        if field.type in (TYPE_MESSAGE, TYPE_GROUP, TYPE_ENUM):
            kind = {TYPE_MESSAGE: "message", TYPE_GROUP: "group", TYPE_ENUM: "enum"}[field.type]
            return f"{kind} {field.type_name.lstrip('.')}"
        return SCALAR_NAMES.get(field.type, f"type {field.type}")

    def cardinality(self, field, syntax: str) -> str:
        if self.map_entry(field) is not None:
            return "map"
        if field.label == LABEL_REPEATED:
            return "repeated"
        if field.label == LABEL_REQUIRED:
            return "required"
        if field.proto3_optional:
            return "optional"
        return "optional" if syntax == "proto2" else "singular"


def oneof_of(message, field) -> str | None:
    """The real oneof that a field belongs to (a proto3 `optional` field's synthetic one is none)."""
    if field.HasField("oneof_index") and not field.proto3_optional:
        return message.oneof_decl[field.oneof_index].name
    return None


def number_reserved(ranges, number: int, end_inclusive: bool) -> bool:
    return any(r.start <= number <= r.end if end_inclusive else r.start <= number < r.end for r in ranges)


def reserved_numbers(ranges, end_inclusive: bool) -> set[int]:
    numbers: set[int] = set()
    for r in ranges:
        end = r.end + 1 if end_inclusive else r.end
        if end - r.start > 10_000:  # `reserved 1000 to max`: compare as a range, not number by number
            continue
        numbers.update(range(r.start, end))
    return numbers


def range_texts(ranges, end_inclusive: bool) -> set[tuple[int, int]]:
    return {(r.start, r.end if end_inclusive else r.end - 1) for r in ranges}


class Gate:
    def __init__(self, old: Tree, new: Tree, new_display: Path):
        self.old, self.new = old, new
        self.new_display = new_display
        self.violations: set[Violation] = set()

    # Reporting: additions and changes at the working tree's line, deletions at the base's line.

    @staticmethod
    def shown(root: Path, file_name: str) -> str:
        absolute = (root / file_name).resolve()
        relative = os.path.relpath(absolute, Path.cwd())
        return str(absolute) if relative.startswith("..") else relative.replace(os.sep, "/")

    def changed(self, file_name: str, rule: str, element: str, message: str, *paths: tuple[int, ...]) -> None:
        line = self.new.line(file_name, *paths)
        self.violations.add(Violation(self.shown(self.new_display, file_name), line, rule, element, message))

    def deleted(self, file_name: str, rule: str, element: str, message: str, *paths: tuple[int, ...]) -> None:
        line = self.old.line(file_name, *paths)
        text = f"{message} (line {line} of the base)"
        self.violations.add(Violation(self.shown(self.new_display, file_name), line, rule, element, text))

    # The comparison.

    def run(self) -> list[Violation]:
        for name, old_file in sorted(self.old.files.items()):
            new_file = self.new.files.get(name)
            if new_file is None:
                self.file_deleted(old_file)
            elif old_file.package != new_file.package:
                self.changed(
                    name, "FILE_SAME_PACKAGE", name,
                    f'package changed from "{old_file.package}" to "{new_file.package}"; a new major version is a new package in its own folder beside the old one',
                    (FILE_PACKAGE,), (FILE_SYNTAX,),
                )
            else:
                self.compare_file(old_file, new_file)
        return sorted(self.violations)

    def file_deleted(self, old_file) -> None:
        top_level = {m.name for m in old_file.message_type} | {e.name for e in old_file.enum_type} | {s.name for s in old_file.service}
        moved_to = sorted(
            f.name for f in self.new.files.values()
            if f.name not in self.old.files and f.package == old_file.package
            and top_level & ({m.name for m in f.message_type} | {e.name for e in f.enum_type} | {s.name for s in f.service})
        )
        hint = f"; it seems to have moved to {', '.join(moved_to)}, and moving a file breaks every importer and generated module" if moved_to else ""
        self.deleted(
            old_file.name, "FILE_NO_DELETE", old_file.name,
            f'file with package "{old_file.package}" was deleted{hint}', (FILE_PACKAGE,), (FILE_SYNTAX,),
        )

    def moved_hint(self, full_name: str, file_name: str) -> str:
        elsewhere = self.new.defined_in.get(full_name)
        return f"; it is now defined in {elsewhere}, but generated code imports it from {file_name}" if elsewhere and elsewhere != file_name else ""

    def compare_file(self, old_file, new_file) -> None:
        name = old_file.name
        old_messages = {n: (m, p) for n, m, p in walk_messages(old_file.message_type, old_file.package, ())}
        new_messages = {n: (m, p) for n, m, p in walk_messages(new_file.message_type, new_file.package, ())}
        for full_name, (old_message, old_path) in old_messages.items():
            if old_message.options.map_entry:
                continue  # a map field's entry; map changes are reported on the field
            parent = full_name.rsplit(".", 1)[0]
            if full_name not in new_messages:
                if parent in old_messages and parent not in new_messages:
                    continue  # reported once, on the outermost deleted message
                self.deleted(name, "MESSAGE_NO_DELETE", full_name, f"message was deleted{self.moved_hint(full_name, name)}", old_path + (NAME,), old_path)
                continue
            new_message, new_path = new_messages[full_name]
            self.compare_message(name, full_name, old_message, new_message, old_path, new_path, old_file.syntax or "proto2", new_file.syntax or "proto2")

        old_enums = {n: (e, p, parent) for n, e, p, parent in walk_enums(old_file)}
        new_enums = {n: (e, p) for n, e, p, _ in walk_enums(new_file)}
        for full_name, (old_enum, old_path, parent) in old_enums.items():
            if full_name not in new_enums:
                if parent is not None and parent not in new_messages:
                    continue  # inside a deleted message
                self.deleted(name, "ENUM_NO_DELETE", full_name, f"enum was deleted{self.moved_hint(full_name, name)}", old_path + (NAME,), old_path)
                continue
            new_enum, new_path = new_enums[full_name]
            self.compare_enum(name, full_name, old_enum, new_enum, old_path, new_path)

        new_services = {s.name: (s, (FILE_SERVICE, i)) for i, s in enumerate(new_file.service)}
        for index, old_service in enumerate(old_file.service):
            full_name = f"{old_file.package}.{old_service.name}" if old_file.package else old_service.name
            old_path = (FILE_SERVICE, index)
            if old_service.name not in new_services:
                self.deleted(name, "SERVICE_NO_DELETE", full_name, f"service was deleted{self.moved_hint(full_name, name)}", old_path + (NAME,), old_path)
                continue
            new_service, new_path = new_services[old_service.name]
            self.compare_service(name, full_name, old_service, new_service, old_path, new_path)

    def compare_message(self, name, full_name, old, new, old_path, new_path, old_syntax, new_syntax) -> None:
        new_by_number = {f.number: (f, new_path + (MESSAGE_FIELD, i)) for i, f in enumerate(new.field)}
        new_by_name = {f.name: (f, new_path + (MESSAGE_FIELD, i)) for i, f in enumerate(new.field)}
        for index, old_field in enumerate(old.field):
            element = f"{full_name}.{old_field.name}"
            old_field_path = old_path + (MESSAGE_FIELD, index)
            if old_field.number not in new_by_number:
                if old_field.name in new_by_name:
                    moved, moved_path = new_by_name[old_field.name]
                    self.changed(name, "FIELD_NO_RENUMBER", element, f"field number changed from {old_field.number} to {moved.number}; old data and old clients use {old_field.number}", moved_path + (3,), moved_path)
                    continue
                missing = []
                if not number_reserved(new.reserved_range, old_field.number, end_inclusive=False):
                    missing.append(f"`reserved {old_field.number};`")
                if old_field.name not in new.reserved_name:
                    missing.append(f'`reserved "{old_field.name}";`')
                if missing:
                    self.deleted(
                        name, "FIELD_NO_DELETE_UNLESS_RESERVED", element,
                        f"field {old_field.number} was deleted without reserving its number and name; add {' and '.join(missing)} to {full_name}",
                        old_field_path, old_path,
                    )
                continue
            new_field, new_field_path = new_by_number[old_field.number]
            self.compare_field(name, full_name, element, old, new, old_field, new_field, new_field_path, old_syntax, new_syntax)
        self.compare_reserved(
            name, full_name, "field", old.reserved_range, old.reserved_name, new.reserved_range, new.reserved_name,
            {f.number: f.name for f in new.field}, False, new_path + (MESSAGE_RESERVED_RANGE,), new_path + (MESSAGE_RESERVED_NAME,), new_path,
        )
        old_event = extension_bytes(old.options.SerializeToString(), OPTION_EVENT)
        if old_event is not None:
            self.compare_event(name, full_name, decode_event(old_event), new, new_path)

    def compare_field(self, name, message_name, element, old_message, new_message, old, new, path, old_syntax, new_syntax) -> None:
        number = old.number
        if old.name != new.name:
            self.changed(
                name, "FIELD_SAME_NAME", element,
                f'field {number} was renamed from "{old.name}" to "{new.name}" (JSON name "{old.json_name}" -> "{new.json_name}"); proto names are accepted in JSON and are REST query parameters and path variables',
                path + (NAME,), path,
            )
        elif old.json_name != new.json_name:
            self.changed(name, "FIELD_SAME_JSON_NAME", element, f'field {number} JSON name changed from "{old.json_name}" to "{new.json_name}"', path + (FIELD_JSON_NAME,), path)
        old_cardinality = self.old.cardinality(old, old_syntax)
        new_cardinality = self.new.cardinality(new, new_syntax)
        if old_cardinality != new_cardinality:
            self.changed(name, "FIELD_SAME_CARDINALITY", element, f"field {number} changed from {old_cardinality} to {new_cardinality}", path + (FIELD_LABEL,), path)
        elif (old_type := self.old.type_text(old)) != (new_type := self.new.type_text(new)):
            self.changed(name, "FIELD_SAME_TYPE", element, f"field {number} type changed from {old_type} to {new_type}", path + (FIELD_TYPE_NAME,), path + (FIELD_TYPE,), path)
        old_oneof, new_oneof = oneof_of(old_message, old), oneof_of(new_message, new)
        if old_oneof != new_oneof:
            before = f'oneof "{old_oneof}"' if old_oneof else "no oneof"
            after = f'oneof "{new_oneof}"' if new_oneof else "no oneof"
            self.changed(name, "FIELD_SAME_ONEOF", element, f"field {number} moved from {before} to {after}", path)

    def compare_reserved(self, name, full_name, what, old_ranges, old_names, new_ranges, new_names, now_used, end_inclusive, range_path, name_path, element_path) -> None:
        """Reservations may grow, never shrink; restoring exactly a reserved element is allowed."""
        old_numbers = reserved_numbers(old_ranges, end_inclusive)
        lost = sorted(
            n for n in old_numbers
            if not number_reserved(new_ranges, n, end_inclusive) and not (n in now_used and now_used[n] in old_names)
        )
        big_old = {r for r in range_texts(old_ranges, end_inclusive) if r[1] - r[0] >= 10_000}
        lost_ranges = sorted(r for r in big_old if r not in range_texts(new_ranges, end_inclusive))
        lost_names = sorted(n for n in old_names if n not in new_names and n not in now_used.values())
        parts, where = [], []
        if lost or lost_ranges:
            parts.append("numbers " + ", ".join([str(n) for n in lost] + [f"{a} to {b}" for a, b in lost_ranges]))
            where.append(range_path + (0,))
        if lost_names:
            parts.append("names " + ", ".join(f'"{n}"' for n in lost_names))
            where.append(name_path + (0,))
        if parts:
            self.changed(
                name, "RESERVED_NO_DELETE", full_name,
                f"{what} {' and '.join(parts)} are no longer reserved; they were retired and must never be reused",
                *where, element_path,
            )

    def compare_event(self, name, full_name, old_binding, new_message, new_path) -> None:
        new_event = extension_bytes(new_message.options.SerializeToString(), OPTION_EVENT)
        where = (new_path + (MESSAGE_OPTIONS, OPTION_EVENT), new_path + (NAME,), new_path)
        if new_event is None:
            self.changed(name, "EVENT_SAME_TOPIC", full_name, f'the (courier.options.v1.event) binding to topic "{old_binding.topic}" was removed', *where)
            return
        new_binding = decode_event(new_event)
        if new_binding.topic != old_binding.topic:
            self.changed(name, "EVENT_SAME_TOPIC", full_name, f'event topic changed from "{old_binding.topic}" to "{new_binding.topic}"; consumers subscribe by topic', *where)
        if new_binding.key_field != old_binding.key_field:
            self.changed(name, "EVENT_SAME_KEY_FIELD", full_name, f'event key_field changed from "{old_binding.key_field}" to "{new_binding.key_field}"; the Kafka key decides partitioning and order', *where)

    def compare_enum(self, name, full_name, old, new, old_path, new_path) -> None:
        scope = full_name
        new_names_by_number: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
        for index, value in enumerate(new.value):
            new_names_by_number.setdefault(value.number, []).append((value.name, new_path + (ENUM_VALUE, index)))
        for index, value in enumerate(old.value):
            element = f"{scope}.{value.name}"
            if value.number in new_names_by_number:
                names = new_names_by_number[value.number]
                if value.name not in {n for n, _ in names}:
                    path = names[0][1]
                    now = ", ".join(n for n, _ in names)
                    self.changed(name, "ENUM_VALUE_SAME_NAME", element, f"enum value {value.number} is no longer named {value.name} (now {now}); JSON carries enum values by name", path + (NAME,), path)
                continue
            missing = []
            if not number_reserved(new.reserved_range, value.number, end_inclusive=True):
                missing.append(f"`reserved {value.number};`")
            if value.name not in new.reserved_name:
                missing.append(f'`reserved "{value.name}";`')
            if missing:
                self.deleted(
                    name, "ENUM_VALUE_NO_DELETE_UNLESS_RESERVED", element,
                    f"enum value {value.number} was deleted without reserving its number and name; add {' and '.join(missing)} to {full_name}",
                    old_path + (ENUM_VALUE, index), old_path,
                )
        self.compare_reserved(
            name, full_name, "enum value", old.reserved_range, old.reserved_name, new.reserved_range, new.reserved_name,
            {v.number: v.name for v in new.value}, True, new_path + (ENUM_RESERVED_RANGE,), new_path + (ENUM_RESERVED_NAME,), new_path,
        )

    def compare_service(self, name, full_name, old, new, old_path, new_path) -> None:
        new_methods = {m.name: (m, new_path + (SERVICE_METHOD, i)) for i, m in enumerate(new.method)}
        for index, old_method in enumerate(old.method):
            element = f"{full_name}.{old_method.name}"
            if old_method.name not in new_methods:
                where = old_path + (SERVICE_METHOD, index)
                self.deleted(name, "RPC_NO_DELETE", element, "RPC was deleted", where + (NAME,), where)
                continue
            method, path = new_methods[old_method.name]
            if method.input_type != old_method.input_type:
                self.changed(name, "RPC_SAME_REQUEST_TYPE", element, f"request changed from {old_method.input_type.lstrip('.')} to {method.input_type.lstrip('.')}", path + (METHOD_INPUT,), path)
            if method.output_type != old_method.output_type:
                self.changed(name, "RPC_SAME_RESPONSE_TYPE", element, f"response changed from {old_method.output_type.lstrip('.')} to {method.output_type.lstrip('.')}", path + (METHOD_OUTPUT,), path)
            old_kind, new_kind = streaming_kind(old_method), streaming_kind(method)
            if old_kind != new_kind:
                self.changed(name, "RPC_SAME_STREAMING", element, f"changed from {old_kind} to {new_kind}", path + (METHOD_CLIENT_STREAMING,), path + (METHOD_SERVER_STREAMING,), path)
            old_level, new_level = old_method.options.idempotency_level, method.options.idempotency_level
            if old_level != new_level:
                self.changed(
                    name, "RPC_SAME_IDEMPOTENCY_LEVEL", element,
                    f"idempotency_level changed from {IDEMPOTENCY_NAMES.get(old_level, old_level)} to {IDEMPOTENCY_NAMES.get(new_level, new_level)}",
                    path + (METHOD_OPTIONS, IDEMPOTENCY_LEVEL), path,
                )
            self.compare_http(name, element, old_method, method, path)

    def compare_http(self, name, element, old_method, method, path) -> None:
        old_bytes = extension_bytes(old_method.options.SerializeToString(), OPTION_HTTP)
        if old_bytes is None:
            return  # adding a REST mapping is an addition
        old_rule = decode_http(old_bytes)
        new_bytes = extension_bytes(method.options.SerializeToString(), OPTION_HTTP)
        where = (path + (METHOD_OPTIONS, OPTION_HTTP), path)
        if new_bytes is None:
            self.changed(name, "RPC_SAME_HTTP_RULE", element, f"the HTTP rule {old_rule.verb} {old_rule.path} was removed", *where)
            return
        new_rule = decode_http(new_bytes)
        changes = []
        if (old_rule.verb, old_rule.path) != (new_rule.verb, new_rule.path):
            changes.append(f"{old_rule.verb} {old_rule.path} -> {new_rule.verb} {new_rule.path}")
        if old_rule.body != new_rule.body:
            changes.append(f'body "{old_rule.body}" -> "{new_rule.body}"')
        if changes:
            self.changed(name, "RPC_SAME_HTTP_RULE", element, "HTTP rule changed: " + ", ".join(changes), *where)


def streaming_kind(method) -> str:
    return {
        (False, False): "unary",
        (True, False): "client streaming",
        (False, True): "server streaming",
        (True, True): "bidirectional streaming",
    }[(method.client_streaming, method.server_streaming)]


# --- command line -------------------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    print(f"proto_breaking: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check proto/ for changes that break wire or JSON compatibility with a base (see --rules).")
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "proto", help="the working tree's contracts (default: <repo>/proto)")
    base = parser.add_mutually_exclusive_group()
    base.add_argument("--against", metavar="REV", help="compare with the root's folder at this revision or tag")
    base.add_argument("--against-dir", metavar="DIR", type=Path, help="compare with the .proto files under this folder")
    add_protoc_arguments(parser)
    args = parser.parse_args(argv)

    if args.rules:
        print_rules(RULES)
        return 0
    root = args.root.resolve()
    if not root.is_dir():
        fail(f"--root {args.root} is not a directory")
    if args.against_dir is not None and not args.against_dir.is_dir():
        fail(f"--against-dir {args.against_dir} is not a directory")
    if missing := protobuf_missing():
        fail(missing)

    with tempfile.TemporaryDirectory(prefix="proto_breaking-base.") as scratch:
        try:
            protoc = find_protoc(args.protoc)
            wkt = find_well_known_types(protoc, args.system_include)
            if args.against_dir is not None:
                base_root: Path | None = args.against_dir.resolve()
                label = str(args.against_dir)
            else:
                if git("rev-parse", "--show-toplevel", cwd=root).returncode != 0:
                    fail(f"{root} is not inside a git checkout, so there is no revision to compare with; use --against-dir DIR")
                if args.against is not None:
                    commit = commit_of(args.against, root)
                    if commit is None:
                        fail(f"--against {args.against}: no such revision in {root} (a tag or branch not fetched, or a shallow clone?)")
                    label = f"{args.against} ({commit[:10]})"
                else:
                    commit, label = default_base(root)
                base_root = extract_base(commit, root, Path(scratch))
                if base_root is None:
                    print(f"proto_breaking: the base {label} has no {root.name}/ folder, so nothing can break; passing")
                    return 0
            new_set, new_names = compile_tree(protoc, wkt, root, f"the working tree ({root})")
            if new_set is None:
                fail(f"no .proto files under {root}")
            old_set, old_names = compile_tree(protoc, wkt, base_root, f"the base {label}")
            gate = Gate(Tree(old_set, old_names), Tree(new_set, new_names), root)
            violations = gate.run()
        except (GateError, LintError) as error:
            fail(str(error))
        except ValueError as error:  # malformed option bytes; protoc never writes them
            fail(f"could not decode a custom option: {error}")

    for violation in violations:
        print(violation)
    if violations:
        print(
            f"proto_breaking: {len(violations)} breaking change(s) against {label}. Reserve deleted fields and values "
            "(number and name), or put the new contract in a new major package (courier.x.v2) beside the old one.",
            file=sys.stderr,
        )
        return 1
    added = len(new_names - old_names)
    print(f"proto_breaking: {len(new_names)} file(s) compatible with {label} ({len(old_names)} in the base, {added} added), {len(RULES)} rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
