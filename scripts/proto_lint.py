#!/usr/bin/env python3
"""Courier's proto lint: our contract rules, checked over protoc's descriptor set.

Usage: proto_lint.py [--root DIR] [--include DIR ...] [--protoc PATH] [--system-include DIR ...]
       proto_lint.py --rules

It runs `protoc --descriptor_set_out --include_source_info --include_imports` over every .proto
file under the root (default: <repo>/proto) and checks each of those files against the rules below.
Files whose package is `grpc.*` or `google.*` are external contracts and exempt; every other file
under the root is checked (Courier's files are `courier.*`). Files that are only imported (well-known
types, `--include` trees) are read for type information but not checked themselves. "The set" in the
uniqueness rules means every checked file.

Rules, in the spirit of buf's STANDARD category:
  PACKAGE_DIRECTORY_MATCH      package a.b.v1 lives in folder a/b/v1/ under the root.
  PACKAGE_VERSION_SUFFIX       the package's last component is a version vN with N >= 1.
  FILE_LOWER_SNAKE_CASE        file names are lower_snake_case.proto.
  PACKAGE_LOWER_SNAKE_CASE     every package component is lower_snake_case.
  MESSAGE_PASCAL_CASE          message names are PascalCase.
  FIELD_LOWER_SNAKE_CASE       field (and extension) names are lower_snake_case.
  ENUM_PASCAL_CASE             enum names are PascalCase.
  ENUM_VALUE_UPPER_SNAKE_CASE  enum value names are UPPER_SNAKE_CASE.
  ENUM_VALUE_PREFIX            enum values start with the enum name in UPPER_SNAKE_CASE plus `_`.
  ENUM_ZERO_VALUE_SUFFIX       the zero value of an enum is named <PREFIX>_UNSPECIFIED.
  SERVICE_PASCAL_CASE          service names are PascalCase.
  SERVICE_SUFFIX               service names end in `Service`.
  RPC_PASCAL_CASE              RPC names are PascalCase.
  ONEOF_LOWER_SNAKE_CASE       oneof names are lower_snake_case.
  RPC_REQUEST_STANDARD_NAME    an RPC's request is <Rpc>Request, defined in the RPC's package.
  RPC_RESPONSE_STANDARD_NAME   an RPC's response is <Rpc>Response, defined in the RPC's package.
  RPC_REQUEST_RESPONSE_UNIQUE  a message is the request or response of one RPC only; never google.protobuf.Empty.
  COMMENTS                     every message, field, enum, enum value, service, RPC and oneof has a leading comment.
  RPC_IDEMPOTENCY_LEVEL        Get*/List*/Watch*/Check*/Search* and HTTP GET RPCs declare NO_SIDE_EFFECTS; a named read with side effects declares IDEMPOTENCY_UNKNOWN.
  HTTP_RULE                    (courier.options.v1.http) has a verb and a `/` path whose {vars} name scalar request fields, a body only off GET/DELETE that is empty, `*` or a top-level field, and a verb + path template unique in the set.
  HTTP_ACCESS                  an RPC with an HTTP rule has (courier.options.v1.access); ROLE level names roles from user/admin/deliverer, other levels name none.
  EVENT_BINDING                (courier.options.v1.event) has a unique topic like `courier.user-created.v1` and a key_field naming a top-level string field.

Custom options are read straight from the serialized MethodOptions/MessageOptions bytes (fields
51001, 51002 and 51011, see proto/courier/options/v1/options.proto) with a small wire-format reader,
so no Python code is generated for them.

Output: one line per violation, `path/to/file.proto:LINE:COL: RULE_ID: message`, sorted by file,
line, column and rule; exit status 1. With no violations it prints one summary line and exits 0.
Exit status 2 means the lint could not run (protoc or the well-known types missing, protoc rejected
a file); the message says why.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NoReturn

REPO_ROOT = Path(__file__).resolve().parents[1]

RULES: dict[str, str] = {}
for _line in __doc__.split("Rules, in the spirit of buf's STANDARD category:\n", 1)[1].split("\n\n", 1)[0].splitlines():
    _rule_id, _text = _line.strip().split(None, 1)
    RULES[_rule_id] = _text
del _line, _rule_id, _text

EXEMPT_PACKAGE_ROOTS = ("grpc", "google")
ALLOWED_ROLES = ("user", "admin", "deliverer")
NO_SIDE_EFFECTS = 1  # google.protobuf.MethodOptions.IdempotencyLevel.NO_SIDE_EFFECTS
READ_RPC_NAME = re.compile(r"^(Get|List|Watch|Check|Search)(?=[A-Z0-9]|$)")
TOPIC = re.compile(r"^[a-z0-9]+([.-][a-z0-9]+)*\.v[0-9]+$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
LOWER_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
VERSION = re.compile(r"^v[1-9][0-9]*$")
TEMPLATE_VARIABLE = re.compile(r"\{([^{}]*)\}")
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# Field numbers of descriptor.proto, used to build SourceCodeInfo paths.
FILE_PACKAGE, FILE_MESSAGE, FILE_ENUM, FILE_SERVICE, FILE_EXTENSION, FILE_SYNTAX = 2, 4, 5, 6, 7, 12
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_EXTENSION, MESSAGE_OPTIONS, MESSAGE_ONEOF = 2, 3, 4, 6, 7, 8
ENUM_VALUE = 2
SERVICE_METHOD = 2
METHOD_INPUT, METHOD_OUTPUT, METHOD_OPTIONS = 2, 3, 4
NAME = 1
IDEMPOTENCY_LEVEL = 34

# Our custom options (proto/courier/options/v1/options.proto).
OPTION_HTTP, OPTION_ACCESS, OPTION_EVENT = 51001, 51002, 51011
HTTP_VERBS = {1: "GET", 2: "PUT", 3: "POST", 4: "DELETE", 5: "PATCH"}
HTTP_BODY = 6
ACCESS_LEVEL, ACCESS_ROLES = 1, 2
ACCESS_LEVEL_NAMES = {0: "ACCESS_LEVEL_UNSPECIFIED", 1: "ACCESS_LEVEL_PUBLIC", 2: "ACCESS_LEVEL_AUTHENTICATED", 3: "ACCESS_LEVEL_ROLE"}
ACCESS_LEVEL_ROLE = 3
EVENT_TOPIC, EVENT_KEY_FIELD = 1, 2


class LintError(Exception):
    """The lint cannot run; the text says what to fix. Exit status 2."""


# --- wire format -------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ValueError("varint longer than 10 bytes")


def wire_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yields (field number, wire type, value) for each top-level field of a serialized message.

    The value is an int for varint and fixed-width fields and the raw bytes for length-delimited
    ones. Groups are skipped.
    """
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        elif wire_type == 3:
            depth = 1
            while depth:
                inner, pos = _varint(data, pos)
                inner_type = inner & 7
                if inner_type == 3:
                    depth += 1
                elif inner_type == 4:
                    depth -= 1
                elif inner_type == 0:
                    _, pos = _varint(data, pos)
                elif inner_type == 1:
                    pos += 8
                elif inner_type == 2:
                    length, pos = _varint(data, pos)
                    pos += length
                elif inner_type == 5:
                    pos += 4
            continue
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, wire_type, value


def extension_bytes(options_bytes: bytes, number: int) -> bytes | None:
    """The merged bytes of a message-typed extension field, or None when it is absent.

    Several occurrences of one embedded message merge like their concatenation, so that is what we
    return.
    """
    parts = [value for n, wt, value in wire_fields(options_bytes) if n == number and wt == 2]
    return b"".join(parts) if parts else None  # type: ignore[arg-type]


@dataclass
class HttpRule:
    verb: str | None = None
    path: str = ""
    body: str = ""


@dataclass
class AccessRule:
    level: int = 0
    roles: list[str] = field(default_factory=list)


@dataclass
class EventBinding:
    topic: str = ""
    key_field: str = ""


def decode_http(data: bytes) -> HttpRule:
    rule = HttpRule()
    for number, wire_type, value in wire_fields(data):
        if wire_type != 2:
            continue
        if number in HTTP_VERBS:
            rule.verb, rule.path = HTTP_VERBS[number], value.decode()  # type: ignore[union-attr]
        elif number == HTTP_BODY:
            rule.body = value.decode()  # type: ignore[union-attr]
    return rule


def decode_access(data: bytes) -> AccessRule:
    rule = AccessRule()
    for number, wire_type, value in wire_fields(data):
        if number == ACCESS_LEVEL and wire_type == 0:
            rule.level = value  # type: ignore[assignment]
        elif number == ACCESS_ROLES and wire_type == 2:
            rule.roles.append(value.decode())  # type: ignore[union-attr]
    return rule


def decode_event(data: bytes) -> EventBinding:
    binding = EventBinding()
    for number, wire_type, value in wire_fields(data):
        if wire_type != 2:
            continue
        if number == EVENT_TOPIC:
            binding.topic = value.decode()  # type: ignore[union-attr]
        elif number == EVENT_KEY_FIELD:
            binding.key_field = value.decode()  # type: ignore[union-attr]
    return binding


# --- naming helpers -----------------------------------------------------------------------------


def upper_snake(name: str) -> str:
    """`AccessLevel` -> `ACCESS_LEVEL`, `HTTPMethod` -> `HTTP_METHOD`."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.upper()


# --- running protoc -----------------------------------------------------------------------------


def find_protoc(explicit: str | None) -> str:
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise LintError(f"protoc not found at {explicit}; install protoc (Debian: apt-get install protobuf-compiler, or run scripts/setup.sh)")
    found = shutil.which("protoc")
    if not found:
        raise LintError("protoc not found on PATH; install it (Debian: apt-get install protobuf-compiler, or run scripts/setup.sh)")
    return found


def find_well_known_types(protoc: str, candidates: list[str] | None) -> str:
    if candidates is None:
        protoc_prefix = Path(os.path.realpath(protoc)).parent.parent
        candidates = [str(protoc_prefix / "include"), "/usr/include", "/usr/local/include"]
    for directory in candidates:
        if (Path(directory) / "google/protobuf/descriptor.proto").is_file():
            return directory
    raise LintError(
        "the protobuf well-known types (google/protobuf/descriptor.proto) are not in "
        + ", ".join(candidates)
        + "; install them (Debian: apt-get install libprotobuf-dev, or run scripts/setup.sh)"
    )


def build_descriptor_set(protoc: str, root: Path, includes: list[Path], wkt: str):
    from google.protobuf import descriptor_pb2

    sources = sorted(p for p in root.rglob("*.proto") if p.is_file())
    if not sources:
        raise LintError(f"no .proto files under {root}")
    with tempfile.TemporaryDirectory(prefix="proto_lint.") as scratch:
        out = Path(scratch) / "descriptors.pb"
        command = [protoc, f"-I{root}"] + [f"-I{d}" for d in includes] + [f"-I{wkt}"]
        command += [f"--descriptor_set_out={out}", "--include_source_info", "--include_imports"]
        command += [str(p.relative_to(root)) for p in sources]
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            raise LintError("protoc failed:\n" + (result.stderr or result.stdout).rstrip())
        descriptor_set = descriptor_pb2.FileDescriptorSet()
        descriptor_set.ParseFromString(out.read_bytes())
    linted = {str(p.relative_to(root)).replace(os.sep, "/") for p in sources}
    return descriptor_set, linted


# --- the lint -----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    column: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule}: {self.message}"


@dataclass
class Method:
    file: object
    display_path: str
    path: tuple[int, ...]
    full_name: str
    proto: object
    http: HttpRule | None
    access: AccessRule | None


class Linter:
    def __init__(self, descriptor_set, linted: set[str], display_root: Path):
        self.files = list(descriptor_set.file)
        self.linted = [f for f in self.files if f.name in linted and not self._exempt(f.package)]
        self.display_root = display_root
        self.violations: set[Violation] = set()
        self.messages: dict[str, object] = {}  # ".pkg.Outer.Inner" -> DescriptorProto
        self.message_package: dict[str, str] = {}
        for f in self.files:
            prefix = f".{f.package}" if f.package else ""
            for full_name, message, _ in self._walk_messages(f.message_type, prefix, ()):
                self.messages[full_name] = message
                self.message_package[full_name] = f.package
        self.locations: dict[str, dict[tuple[int, ...], object]] = {
            f.name: {tuple(loc.path): loc for loc in f.source_code_info.location} for f in self.files
        }
        self.methods: list[Method] = []
        self.events: list[tuple[object, tuple[int, ...], str, EventBinding]] = []

    @staticmethod
    def _exempt(package: str) -> bool:
        return package.split(".", 1)[0] in EXEMPT_PACKAGE_ROOTS

    @staticmethod
    def _walk_messages(messages, prefix: str, path: tuple[int, ...]):
        for index, message in enumerate(messages):
            full_name = f"{prefix}.{message.name}"
            message_path = path + ((FILE_MESSAGE,) if not path else (MESSAGE_NESTED,)) + (index,)
            yield full_name, message, message_path
            yield from Linter._walk_messages(message.nested_type, full_name, message_path)

    # Reporting.

    def display(self, f) -> str:
        absolute = (self.display_root / f.name).resolve()
        try:
            relative = os.path.relpath(absolute, Path.cwd())
        except ValueError:
            return str(absolute)
        return str(absolute) if relative.startswith("..") else relative.replace(os.sep, "/")

    def report(self, f, rule: str, message: str, *paths: tuple[int, ...]) -> None:
        """Reports at the first of `paths` that has a source location (else at the file's start)."""
        line = column = 1
        locations = self.locations[f.name]
        for path in paths:
            location = locations.get(tuple(path))
            if location is not None:
                line, column = location.span[0] + 1, location.span[1] + 1
                break
        self.violations.add(Violation(self.display(f), line, column, rule, message))

    def has_leading_comment(self, f, path: tuple[int, ...]) -> bool:
        location = self.locations[f.name].get(path)
        return location is not None and bool(location.leading_comments.strip())

    # Checks.

    def run(self) -> list[Violation]:
        for f in self.linted:
            self.check_file(f)
        self.check_rpc_uniqueness()
        self.check_http_templates_unique()
        self.check_event_topics_unique()
        return sorted(self.violations)

    def check_file(self, f) -> None:
        package = f.package
        directory = os.path.dirname(f.name)
        file_name = os.path.basename(f.name)
        if not package:
            self.report(f, "PACKAGE_VERSION_SUFFIX", f"{f.name} declares no package; declare a versioned one like courier.hermes.v1", (FILE_SYNTAX,))
        else:
            components = package.split(".")
            if directory != "/".join(components):
                self.report(f, "PACKAGE_DIRECTORY_MATCH", f'package "{package}" must be in folder "{"/".join(components)}/", not "{directory or "."}/"', (FILE_PACKAGE,))
            if not VERSION.match(components[-1]):
                self.report(f, "PACKAGE_VERSION_SUFFIX", f'package "{package}" must end in a version component like "v1"', (FILE_PACKAGE,))
            bad = [c for c in components if not LOWER_SNAKE.match(c)]
            if bad:
                self.report(f, "PACKAGE_LOWER_SNAKE_CASE", f'package "{package}" has components that are not lower_snake_case: {", ".join(bad)}', (FILE_PACKAGE,))
        stem = file_name[: -len(".proto")] if file_name.endswith(".proto") else file_name
        if not LOWER_SNAKE.match(stem):
            self.report(f, "FILE_LOWER_SNAKE_CASE", f'file name "{file_name}" must be lower_snake_case.proto', (FILE_SYNTAX,))

        prefix = f".{package}" if package else ""
        for full_name, message, path in self._walk_messages(f.message_type, prefix, ()):
            self.check_message(f, full_name, message, path)
        for index, enum in enumerate(f.enum_type):
            self.check_enum(f, f"{prefix}.{enum.name}", enum, (FILE_ENUM, index))
        for index, extension in enumerate(f.extension):
            self.check_field(f, f"{prefix}.{extension.name}", extension, (FILE_EXTENSION, index))
        for index, service in enumerate(f.service):
            self.check_service(f, f"{package}.{service.name}" if package else service.name, service, (FILE_SERVICE, index))

    def check_message(self, f, full_name: str, message, path: tuple[int, ...]) -> None:
        name = full_name.lstrip(".")
        if message.options.map_entry:
            return  # protoc's synthesized map entries have no source and no comment of their own.
        if not PASCAL.match(message.name):
            self.report(f, "MESSAGE_PASCAL_CASE", f'message "{name}" must be PascalCase', path + (NAME,), path)
        if not self.has_leading_comment(f, path):
            self.report(f, "COMMENTS", f'message "{name}" has no leading comment', path + (NAME,), path)
        for index, fld in enumerate(message.field):
            self.check_field(f, f"{full_name}.{fld.name}", fld, path + (MESSAGE_FIELD, index))
        for index, extension in enumerate(message.extension):
            self.check_field(f, f"{full_name}.{extension.name}", extension, path + (MESSAGE_EXTENSION, index))
        synthetic = {fld.oneof_index for fld in message.field if fld.proto3_optional and fld.HasField("oneof_index")}
        for index, oneof in enumerate(message.oneof_decl):
            if index in synthetic:
                continue  # proto3 `optional` fields get a synthetic oneof that has no source.
            oneof_path = path + (MESSAGE_ONEOF, index)
            oneof_name = f"{name}.{oneof.name}"
            if not LOWER_SNAKE.match(oneof.name):
                self.report(f, "ONEOF_LOWER_SNAKE_CASE", f'oneof "{oneof_name}" must be lower_snake_case', oneof_path + (NAME,), oneof_path)
            if not self.has_leading_comment(f, oneof_path):
                self.report(f, "COMMENTS", f'oneof "{oneof_name}" has no leading comment', oneof_path + (NAME,), oneof_path)
        for index, enum in enumerate(message.enum_type):
            self.check_enum(f, f"{full_name}.{enum.name}", enum, path + (MESSAGE_ENUM, index))
        event_bytes = extension_bytes(message.options.SerializeToString(), OPTION_EVENT)
        if event_bytes is not None:
            self.check_event(f, name, message, path, decode_event(event_bytes))

    def check_field(self, f, full_name: str, fld, path: tuple[int, ...]) -> None:
        name = full_name.lstrip(".")
        kind = "extension" if fld.HasField("extendee") else "field"
        if not LOWER_SNAKE.match(fld.name):
            self.report(f, "FIELD_LOWER_SNAKE_CASE", f'{kind} "{name}" must be lower_snake_case', path + (NAME,), path)
        if not self.has_leading_comment(f, path):
            self.report(f, "COMMENTS", f'{kind} "{name}" has no leading comment', path + (NAME,), path)

    def check_enum(self, f, full_name: str, enum, path: tuple[int, ...]) -> None:
        name = full_name.lstrip(".")
        if not PASCAL.match(enum.name):
            self.report(f, "ENUM_PASCAL_CASE", f'enum "{name}" must be PascalCase', path + (NAME,), path)
        if not self.has_leading_comment(f, path):
            self.report(f, "COMMENTS", f'enum "{name}" has no leading comment', path + (NAME,), path)
        prefix = upper_snake(enum.name) + "_"
        for index, value in enumerate(enum.value):
            value_path = path + (ENUM_VALUE, index)
            where = (value_path + (NAME,), value_path)
            if not UPPER_SNAKE.match(value.name):
                self.report(f, "ENUM_VALUE_UPPER_SNAKE_CASE", f'enum value "{name}.{value.name}" must be UPPER_SNAKE_CASE', *where)
            if not value.name.startswith(prefix):
                self.report(f, "ENUM_VALUE_PREFIX", f'enum value "{name}.{value.name}" must start with "{prefix}"', *where)
            if value.number == 0 and value.name != prefix + "UNSPECIFIED":
                self.report(f, "ENUM_ZERO_VALUE_SUFFIX", f'zero value "{name}.{value.name}" must be named "{prefix}UNSPECIFIED"', *where)
            if not self.has_leading_comment(f, value_path):
                self.report(f, "COMMENTS", f'enum value "{name}.{value.name}" has no leading comment', *where)

    def check_service(self, f, full_name: str, service, path: tuple[int, ...]) -> None:
        where = (path + (NAME,), path)
        if not PASCAL.match(service.name):
            self.report(f, "SERVICE_PASCAL_CASE", f'service "{full_name}" must be PascalCase', *where)
        if not service.name.endswith("Service"):
            self.report(f, "SERVICE_SUFFIX", f'service "{full_name}" must end in "Service"', *where)
        if not self.has_leading_comment(f, path):
            self.report(f, "COMMENTS", f'service "{full_name}" has no leading comment', *where)
        for index, method in enumerate(service.method):
            self.check_method(f, f"{full_name}.{method.name}", method, path + (SERVICE_METHOD, index))

    def check_method(self, f, full_name: str, method, path: tuple[int, ...]) -> None:
        where = (path + (NAME,), path)
        package = f.package
        if not PASCAL.match(method.name):
            self.report(f, "RPC_PASCAL_CASE", f'RPC "{full_name}" must be PascalCase', *where)
        if not self.has_leading_comment(f, path):
            self.report(f, "COMMENTS", f'RPC "{full_name}" has no leading comment', *where)
        for rule, suffix, type_name, field_number in (
            ("RPC_REQUEST_STANDARD_NAME", "Request", method.input_type, METHOD_INPUT),
            ("RPC_RESPONSE_STANDARD_NAME", "Response", method.output_type, METHOD_OUTPUT),
        ):
            expected = f".{package}.{method.name}{suffix}" if package else f".{method.name}{suffix}"
            if type_name != expected:
                kind = suffix.lower()
                self.report(f, rule, f'RPC "{full_name}" {kind} is "{type_name.lstrip(".")}"; it must be "{expected.lstrip(".")}"', path + (field_number,), *where)

        options_bytes = method.options.SerializeToString()
        http_bytes = extension_bytes(options_bytes, OPTION_HTTP)
        access_bytes = extension_bytes(options_bytes, OPTION_ACCESS)
        http = decode_http(http_bytes) if http_bytes is not None else None
        access = decode_access(access_bytes) if access_bytes is not None else None
        self.methods.append(Method(f, self.display(f), path, full_name, method, http, access))

        # A Get*/List*/... name that is not a read (a name fixed by an external contract) opts out by
        # declaring `idempotency_level = IDEMPOTENCY_UNKNOWN` explicitly; an HTTP GET never can.
        opted_out = method.options.HasField("idempotency_level") and method.options.idempotency_level == 0
        reads_by_name = READ_RPC_NAME.match(method.name) is not None and not opted_out
        reads_by_http = http is not None and http.verb == "GET"
        if (reads_by_name or reads_by_http) and method.options.idempotency_level != NO_SIDE_EFFECTS:
            why = f"its name starts with {READ_RPC_NAME.match(method.name).group(1)}" if reads_by_name else "it is mapped to HTTP GET"  # type: ignore[union-attr]
            self.report(
                f, "RPC_IDEMPOTENCY_LEVEL",
                f'RPC "{full_name}" must declare `option idempotency_level = NO_SIDE_EFFECTS;` because {why}',
                path + (METHOD_OPTIONS, IDEMPOTENCY_LEVEL), *where,
            )
        if http is not None:
            self.check_http(f, full_name, method, path, http)
        if http is not None or access is not None:
            self.check_access(f, full_name, path, http, access)

    def check_http(self, f, full_name: str, method, path: tuple[int, ...], http: HttpRule) -> None:
        where = (path + (METHOD_OPTIONS, OPTION_HTTP), path + (NAME,), path)

        def problem(text: str) -> None:
            self.report(f, "HTTP_RULE", f'RPC "{full_name}" HTTP rule: {text}', *where)

        if http.verb is None:
            problem("declares no verb; set one of get, put, post, delete, patch to the path template")
            return
        if http.verb in ("GET", "DELETE") and http.body:
            problem(f'{http.verb} must not declare a body (body: "{http.body}")')
        if not http.path.startswith("/"):
            problem(f'path "{http.path}" must start with "/"')
        stripped = TEMPLATE_VARIABLE.sub("", http.path)
        if "{" in stripped or "}" in stripped:
            problem(f'path "{http.path}" has unbalanced braces')
        request = self.messages.get(method.input_type)
        bound: list[str] = []
        for variable in TEMPLATE_VARIABLE.findall(http.path):
            if not FIELD_PATH.match(variable):
                problem(f'path variable "{{{variable}}}" must be a field path like {{name}} or {{a.b}}')
                continue
            if variable in bound:
                problem(f'path variable "{{{variable}}}" appears twice')
                continue
            bound.append(variable)
            if request is not None:
                error = self.resolve_scalar_path(request, variable)
                if error:
                    problem(f'path variable "{{{variable}}}" {error} in request "{method.input_type.lstrip(".")}"')
        if http.body and http.body != "*":
            top_level = {fld.name: fld for fld in request.field} if request is not None else {}
            if "." in http.body or http.body not in top_level:
                problem(f'body "{http.body}" must be empty, "*" or the name of a top-level field of "{method.input_type.lstrip(".")}"')
            elif any(v == http.body or v.startswith(http.body + ".") for v in bound):
                problem(f'body field "{http.body}" is also bound by the path')

    def resolve_scalar_path(self, message, field_path: str) -> str | None:
        """None if `field_path` names a singular, non-message field of `message`; else why not."""
        parts = field_path.split(".")
        for depth, part in enumerate(parts):
            fld = next((x for x in message.field if x.name == part), None)
            so_far = ".".join(parts[: depth + 1])
            if fld is None:
                return f'names no field ("{so_far}" does not exist)'
            if fld.label == fld.LABEL_REPEATED:
                return f'names a repeated or map field ("{so_far}")'
            is_message = fld.type in (fld.TYPE_MESSAGE, fld.TYPE_GROUP)
            if depth == len(parts) - 1:
                return f'names a message field ("{so_far}"); it must be a scalar' if is_message else None
            if not is_message:
                return f'goes through the scalar field "{so_far}"'
            message = self.messages.get(fld.type_name)
            if message is None:
                return f'goes through "{so_far}" whose type {fld.type_name} is unknown'
        return None

    def check_access(self, f, full_name: str, path: tuple[int, ...], http: HttpRule | None, access: AccessRule | None) -> None:
        if access is None:
            self.report(
                f, "HTTP_ACCESS",
                f'RPC "{full_name}" has an HTTP rule but no access rule; add option (courier.options.v1.access)',
                path + (METHOD_OPTIONS, OPTION_HTTP), path + (NAME,), path,
            )
            return
        where = (path + (METHOD_OPTIONS, OPTION_ACCESS), path + (NAME,), path)
        level = ACCESS_LEVEL_NAMES.get(access.level, str(access.level))
        if access.level == ACCESS_LEVEL_ROLE:
            if not access.roles:
                self.report(f, "HTTP_ACCESS", f'RPC "{full_name}" access level ACCESS_LEVEL_ROLE names no roles; name some of {", ".join(ALLOWED_ROLES)}', *where)
            unknown = [r for r in access.roles if r not in ALLOWED_ROLES]
            if unknown:
                self.report(f, "HTTP_ACCESS", f'RPC "{full_name}" access names unknown roles {", ".join(repr(r) for r in unknown)}; roles are {", ".join(ALLOWED_ROLES)}', *where)
        elif access.roles:
            self.report(f, "HTTP_ACCESS", f'RPC "{full_name}" access level {level} must list no roles (roles: {", ".join(access.roles)}); use ACCESS_LEVEL_ROLE', *where)

    def check_event(self, f, name: str, message, path: tuple[int, ...], binding: EventBinding) -> None:
        option_path = path + (MESSAGE_OPTIONS, OPTION_EVENT)
        where = (option_path, path + (NAME,), path)
        self.events.append((f, option_path, name, binding))
        if not TOPIC.match(binding.topic):
            self.report(f, "EVENT_BINDING", f'event "{name}" topic "{binding.topic}" must be lowercase words joined by "." or "-" ending in a version, like "courier.user-created.v1"', *where)
        key = next((x for x in message.field if x.name == binding.key_field), None)
        if not binding.key_field:
            self.report(f, "EVENT_BINDING", f'event "{name}" declares no key_field', *where)
        elif key is None:
            self.report(f, "EVENT_BINDING", f'event "{name}" key_field "{binding.key_field}" names no top-level field', *where)
        elif key.type != key.TYPE_STRING or key.label == key.LABEL_REPEATED:
            self.report(f, "EVENT_BINDING", f'event "{name}" key_field "{binding.key_field}" must be a singular string field', *where)

    # Checks across the set.

    def check_rpc_uniqueness(self) -> None:
        uses: dict[str, list[tuple[Method, int, str]]] = defaultdict(list)
        for m in self.methods:
            uses[m.proto.input_type].append((m, METHOD_INPUT, "request"))
            uses[m.proto.output_type].append((m, METHOD_OUTPUT, "response"))
        for type_name, users in uses.items():
            message_name = type_name.lstrip(".")
            for m, field_number, role in users:
                where = (m.path + (field_number,), m.path + (NAME,), m.path)
                if type_name == ".google.protobuf.Empty":
                    self.report(m.file, "RPC_REQUEST_RESPONSE_UNIQUE", f'RPC "{m.full_name}" uses google.protobuf.Empty as its {role}; give it its own message', *where)
                elif len(users) > 1:
                    others = sorted({f"{o.full_name} ({r})" for o, n, r in users if not (o is m and n == field_number)})
                    self.report(m.file, "RPC_REQUEST_RESPONSE_UNIQUE", f'"{message_name}" is the {role} of RPC "{m.full_name}" and also of {", ".join(others)}', *where)

    def check_http_templates_unique(self) -> None:
        routes: dict[tuple[str, str], list[Method]] = defaultdict(list)
        for m in self.methods:
            if m.http is not None and m.http.verb is not None:
                routes[(m.http.verb, TEMPLATE_VARIABLE.sub("{}", m.http.path))].append(m)
        for (verb, _), methods in routes.items():
            if len(methods) < 2:
                continue
            for m in methods:
                others = sorted(o.full_name for o in methods if o is not m)
                self.report(
                    m.file, "HTTP_RULE",
                    f'RPC "{m.full_name}" HTTP rule: {verb} {m.http.path} has the same verb and path template as {", ".join(others)}',  # type: ignore[union-attr]
                    m.path + (METHOD_OPTIONS, OPTION_HTTP), m.path + (NAME,), m.path,
                )

    def check_event_topics_unique(self) -> None:
        by_topic: dict[str, list[tuple[object, tuple[int, ...], str]]] = defaultdict(list)
        for f, option_path, name, binding in self.events:
            if binding.topic:
                by_topic[binding.topic].append((f, option_path, name))
        for topic, events in by_topic.items():
            if len(events) < 2:
                continue
            for f, option_path, name in events:
                others = sorted(n for _, _, n in events if n != name)
                self.report(f, "EVENT_BINDING", f'event "{name}" topic "{topic}" is also the topic of {", ".join(others)}', option_path, option_path[:-2] + (NAME,))


# --- command line -------------------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    print(f"proto_lint: {message}", file=sys.stderr)
    sys.exit(2)


def add_protoc_arguments(parser: argparse.ArgumentParser) -> None:
    """--protoc, --system-include and --rules, which both contract tools (this one and
    proto_breaking.py) take."""
    parser.add_argument("--protoc", help="the protoc to run (default: protoc on PATH)")
    parser.add_argument("--system-include", action="append", help="where to look for the well-known types (repeatable; default: protoc's ../include, /usr/include, /usr/local/include)")
    parser.add_argument("--rules", action="store_true", help="print the rules and exit")


def print_rules(rules: dict[str, str]) -> None:
    width = max(map(len, rules))
    for rule_id, text in rules.items():
        print(f"{rule_id:<{width}}  {text}")


def protobuf_missing() -> str | None:
    """Why the tools cannot run when the protobuf package is missing, or None when it is there."""
    try:
        from google.protobuf import descriptor_pb2  # noqa: F401
    except ImportError:
        return f"the Python package protobuf is missing from {sys.executable}; run scripts/setup.sh (it fills .venv from scripts/requirements.txt)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lint Courier's .proto contracts (see --rules).")
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "proto", help="the tree to lint: every .proto under it (default: <repo>/proto)")
    parser.add_argument("--include", type=Path, action="append", default=[], help="an extra import path (repeatable); its files are not linted")
    add_protoc_arguments(parser)
    args = parser.parse_args(argv)

    if args.rules:
        print_rules(RULES)
        return 0

    root = args.root.resolve()
    if not root.is_dir():
        fail(f"--root {args.root} is not a directory")
    for include in args.include:
        if not include.is_dir():
            fail(f"--include {include} is not a directory")
    if missing := protobuf_missing():
        fail(missing)
    try:
        protoc = find_protoc(args.protoc)
        wkt = find_well_known_types(protoc, args.system_include)
        descriptor_set, linted = build_descriptor_set(protoc, root, [i.resolve() for i in args.include], wkt)
        linter = Linter(descriptor_set, linted, root)
        violations = linter.run()
    except LintError as error:
        fail(str(error))
    except ValueError as error:  # malformed option bytes; protoc never writes them, so say so loudly
        fail(f"could not decode a custom option: {error}")

    for violation in violations:
        print(violation)
    if violations:
        files = len({v.path for v in violations})
        print(f"proto_lint: {len(violations)} violation(s) in {files} file(s)", file=sys.stderr)
        return 1
    print(f"proto_lint: {len(linter.linted)} file(s) checked under {root} ({len(linted) - len(linter.linted)} exempt), {len(RULES)} rules, no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
