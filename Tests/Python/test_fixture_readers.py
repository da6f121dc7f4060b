"""Two independent readers of the contract fixtures: Python (protobuf/upb) and C (protobuf-c).

The Swift contract tests store golden fixtures in Tests/Contract/Fixtures/:

- ``<full.message.Name>.binpb``: binary protobuf of a canonical instance of the message;
- ``<full.message.Name>.json``: the proto3 JSON mapping of the same instance;
- ``expectations.tsv``: ``full.message.Name<TAB>field_name<TAB>kind<TAB>value`` lines (kinds
  ``string``, ``int``, ``bool``, ``double`` (within 1e-9), ``enum`` (the number), ``bytes`` (hex));
  ``#`` starts a comment. ``field_name`` is a top-level field or, for messages whose top level holds
  only messages and lists (``GetUserResponse { User user }``), a path through message fields with
  ``[i]`` after a repeated field: ``user.email``, ``users[0].email``, ``deliverer_ids[0]``. Unset
  fields read as their proto3 defaults. Every fixture of a message with fields needs a line.

This suite proves that clients in other languages read exactly what the Swift services write:

- Python: ``grpc_tools.protoc --python_out`` over all of ``proto/``; every ``.binpb`` decodes,
  re-encodes byte for byte (``deterministic=True``) and matches its expectations; every ``.json``
  parses (``json_format.Parse``) to the message that the ``.binpb`` holds.
- C: ``protoc-c --c_out`` over ``proto/`` and the well-known types it imports, compiled with
  ``c/fixture_reader.c`` and a generated table of descriptors; the program unpacks, re-packs,
  compares bytes and checks the expectations generically through the field descriptors.
- Coverage: every request and response message of every ``courier.*`` service, every message marked
  ``(courier.options.v1.event)`` and the event envelope has both fixtures and expectations (a
  message without fields needs none). An empty or missing Fixtures folder fails.
- Bad input: a flipped byte, a truncated file, a changed value, a non-canonical encoding and broken
  expectations make each reader fail with a message that says what is wrong.
- Snapshots: ``Fixtures/snapshots/<name>/`` keeps the whole set of an earlier contract version
  (``scripts/make_fixtures.py --snapshot NAME``), with a ``MANIFEST.tsv`` of SHA-256 sums that
  proves it was never edited. Every kept fixture must still decode with the current Python classes:
  fields it holds that the current message lacks must have reserved numbers, JSON keys and enum
  names that are gone must be reserved names, expectations hold on every field that still exists,
  and without retired fields the bytes re-encode unchanged. Small crafted contracts show the check
  accepting the compatible evolutions and naming the field of each breaking one.

protoc-c 1.4.1 and our contracts: protoc-c emits no code for ``extend`` blocks (silently) and keeps
no custom options in its descriptors, so options.proto compiles to plain message types and the C
side simply has no use for the extensions; options.pb-c.h includes descriptor.pb-c.h, so
descriptor.proto is compiled too. protoc-c 1.4.1 does refuse any proto3 file with an ``optional``
field ("hasn't been updated to support optional fields in proto3"; support came in 1.5.0). A
proto3 ``optional`` field is by definition a field in a synthetic one-field oneof, so the suite
hands protoc-c a descriptor set (``protoc --descriptor_set_out``, fed back with
``--descriptor_set_in``) in which the ``proto3_optional`` flag is cleared: the field becomes an
ordinary one-field oneof, whose wire encoding and explicit presence are the same. The proto files
are never edited.

Everything is generated into pytest's temporary folders; nothing is written into the repository.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import types
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
    text_format,
    unknown_fields,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
FIXTURES = REPO_ROOT / "Tests" / "Contract" / "Fixtures"
EXPECTATIONS = FIXTURES / "expectations.tsv"
READER_SOURCE = Path(__file__).resolve().parent / "c" / "fixture_reader.c"
SYSTEM_INCLUDE = Path("/usr/include")

EVENT_OPTION = "courier.options.v1.event"
ENVELOPE_OPTION = "courier.options.v1.event_envelope"
ENVELOPE = "courier.events.v1.EventEnvelope"
DOUBLE_TOLERANCE = 1e-9
KINDS = ("string", "int", "bool", "double", "enum", "bytes")

# A test-only contract, compiled beside proto/ by both readers. It has one field of every scalar
# type the expectations can name and the shapes the real contracts use (oneof, proto3 optional, map,
# nested and well-known messages, custom options on messages and RPCs, a streaming RPC), so that the
# readers are proven on all of them whatever the fixtures happen to contain. Its package is not
# courier.*, so coverage ignores it.
SELFTEST_FILE = "fixture_reader_selftest.proto"
SELFTEST_MESSAGE = "courier_fixture_readers.selftest.AllKinds"
SELFTEST_PROTO = """\
syntax = "proto3";

package courier_fixture_readers.selftest;

import "courier/options/v1/options.proto";
import "google/protobuf/timestamp.proto";

enum Colour {
  COLOUR_UNSPECIFIED = 0;
  COLOUR_RED = 1;
  COLOUR_GREEN = 2;
}

message Nested {
  string note = 1;
}

message AllKinds {
  option (courier.options.v1.event) = {
    topic: "courier-fixture-readers.all-kinds.v1"
    key_field: "text"
  };

  // Declared out of number order on purpose: encoders write fields by number.
  double amount = 15;
  string text = 1;
  bytes blob = 2;
  bool flag = 3;
  int32 i32 = 4;
  int64 i64 = 5;
  uint32 u32 = 6;
  uint64 u64 = 7;
  sint32 s32 = 8;
  sint64 s64 = 9;
  fixed32 f32 = 10;
  fixed64 f64 = 11;
  sfixed32 sf32 = 12;
  sfixed64 sf64 = 13;
  float ratio = 14;
  Colour colour = 16;
  optional int32 maybe = 17;
  oneof choice {
    int64 choice_number = 19;
    string choice_text = 18;
  }
  Nested nested = 20;
  repeated string tags = 21;
  map<string, string> labels = 22;
  google.protobuf.Timestamp at = 23;
  repeated Nested notes = 24;
  repeated sint64 deltas = 25;
}

service Probe {
  rpc Read(AllKinds) returns (AllKinds) {
    option idempotency_level = NO_SIDE_EFFECTS;
    option (courier.options.v1.http) = { get: "/probe/{text}" };
    option (courier.options.v1.access) = { level: ACCESS_LEVEL_PUBLIC };
  }
  rpc Watch(AllKinds) returns (stream AllKinds);
}
"""
# Every scalar of a canonical AllKinds, each of which an expectation can name.
SELFTEST_SCALAR_FIELDS = (
    "amount", "text", "blob", "flag", "i32", "i64", "u32", "u64", "s32", "s64", "f32", "f64",
    "sf32", "sf64", "ratio", "colour", "maybe", "choice_number", "choice_text", "nested.note",
    "tags[0]", "at.seconds", "at.nanos", "notes[0].note", "deltas[0]",
)


class FixtureError(AssertionError):
    """A reader's verdict that a fixture or its expectations are wrong; the text says how."""


# --------------------------------------------------------------------------------------------------
# Expectations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    message: str
    field: str
    kind: str
    value: str
    line: int

    @property
    def where(self) -> str:
        return f"expectations.tsv line {self.line}"


def parse_expectations(path: Path) -> list[Expectation]:
    """Reads an expectations file; any malformed line is an error, as it is for the C reader."""
    if not path.is_file():
        raise FixtureError(f"{path} is missing: every fixture needs expectations lines")
    expectations = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        columns = line.split("\t", 3)
        if len(columns) != 4:
            raise FixtureError(
                f"expectations.tsv line {number}: expected 4 tab-separated columns "
                f"(message, field, kind, value), got {line!r}"
            )
        message, field, kind, value = columns
        if kind not in KINDS:
            raise FixtureError(
                f"expectations.tsv line {number}: unknown kind {kind!r} (one of {', '.join(KINDS)})"
            )
        expectations.append(Expectation(message, field, kind, value, number))
    return expectations


_KIND_OF_TYPE = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "double",
    FieldDescriptor.TYPE_ENUM: "enum",
    **{
        t: "int"
        for t in (
            FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
            FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
        )
    },
}
_INTEGER = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9]+)\])?")


class PathError(Exception):
    pass


def resolve(message: Message, path: str) -> tuple[FieldDescriptor, object]:
    """Finds the scalar that an expectations path names: `email`, `user.email`, `users[0].email`."""
    current, segments = message, path.split(".")
    for position, segment in enumerate(segments, start=1):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise PathError(f"{path!r} is not a field path (field.field, field[0].field)")
        name, index = match.group(1), match.group(2)
        field = current.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            raise PathError(
                f"the message {current.DESCRIPTOR.full_name} has no field named {name!r}"
            )
        value = getattr(current, name)
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            raise PathError(f"field {name!r} is a map; expectations cannot name map entries")
        if field.is_repeated:
            if index is None:
                raise PathError(f"field {name!r} is repeated; name one element, as in '{name}[0]'")
            if int(index) >= len(value):
                raise PathError(
                    f"field {name!r} has {len(value)} element(s), so there is no [{index}]"
                )
            value = value[int(index)]
        elif index is not None:
            raise PathError(f"field {name!r} is not repeated; drop the [{index}]")
        last = position == len(segments)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if last:
                raise PathError(
                    f"field {name!r} is a message; name one of its scalar fields ({path}.x)"
                )
            current = value
        elif not last:
            raise PathError(f"field {name!r} is not a message, so {path!r} goes nowhere")
    return field, value


def check_expectation(message: Message, expectation: Expectation) -> str | None:
    """Returns why the decoded message does not meet one expectation, or None when it does."""
    name, where = message.DESCRIPTOR.full_name, expectation.where
    try:
        field, actual = resolve(message, expectation.field)
    except PathError as error:
        return f"{name}: {where}: {error}"
    kind = _KIND_OF_TYPE[field.type]
    if expectation.kind != kind:
        return (
            f"{name}: {where}: field {expectation.field!r} has kind {expectation.kind!r} in the "
            f"expectations, but its type is read as {kind!r}"
        )
    text = expectation.value
    mismatch = (
        f"{name}: field {expectation.field!r}: "
        f"expected {kind} {{expected}}, got {{actual}} ({where})"
    )
    if kind == "string":
        if actual != text:
            return mismatch.format(expected=json.dumps(text), actual=json.dumps(actual))
    elif kind in ("int", "enum"):
        if not _INTEGER.fullmatch(text):
            return f"{name}: {where}: {text!r} is not a decimal integer"
        if actual != int(text):
            return mismatch.format(expected=text, actual=actual)
    elif kind == "bool":
        if text not in ("true", "false"):
            return f"{name}: {where}: bool value must be 'true' or 'false', not {text!r}"
        if actual != (text == "true"):
            return mismatch.format(expected=text, actual=str(actual).lower())
    elif kind == "double":
        try:
            wanted = float(text)
        except ValueError:
            return f"{name}: {where}: {text!r} is not a decimal floating-point number"
        if field.type == FieldDescriptor.TYPE_FLOAT:  # the field can only hold the nearest float
            wanted = struct.unpack("<f", struct.pack("<f", wanted))[0]
        equal = math.isnan(actual) if math.isnan(wanted) else (
            actual == wanted or abs(actual - wanted) <= DOUBLE_TOLERANCE
        )
        if not equal:
            return mismatch.format(expected=repr(wanted), actual=f"{actual!r} (tolerance 1e-9)")
    elif kind == "bytes":
        if not _HEX.fullmatch(text):
            return (
                f"{name}: {where}: bytes value must be an even number of hex digits, not {text!r}"
            )
        if actual != bytes.fromhex(text):
            return mismatch.format(expected=text, actual=actual.hex())
    return None


# --------------------------------------------------------------------------------------------------
# The Python reader
# --------------------------------------------------------------------------------------------------


def message_name(fixture: Path) -> str:
    return fixture.name.rsplit(".", 1)[0]


def message_class(name: str) -> type[Message]:
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        raise FixtureError(
            f"{name}: no such message in the generated contracts (is its .proto in proto/?)"
        ) from None
    return message_factory.GetMessageClass(descriptor)


def decode_binary(fixture: Path) -> Message:
    name = message_name(fixture)
    cls = message_class(name)
    if not fixture.is_file():
        raise FixtureError(f"{name}: {fixture.name} is missing")
    data = fixture.read_bytes()
    try:
        return cls.FromString(data)
    except DecodeError as error:
        raise FixtureError(
            f"{name}: cannot decode {fixture.name} ({len(data)} bytes): {error}; "
            "the fixture is malformed or truncated"
        ) from None


def describe_difference(name: str, original: bytes, again: bytes) -> str:
    differences = (i for i, (a, b) in enumerate(zip(original, again)) if a != b)
    at = next(differences, min(len(original), len(again)))
    window = slice(max(0, at - 8), at + 8)
    return (
        f"{name}: re-encoded bytes differ from the fixture (fixture {len(original)} bytes, "
        f"re-encoded {len(again)} bytes, first difference at offset {at}); the fixture is not the "
        "canonical encoding of its message\n"
        f"    fixture    bytes from {window.start}: {original[window].hex(' ')}\n"
        f"    re-encoded bytes from {window.start}: {again[window].hex(' ')}"
    )


def python_read_binary(fixture: Path, expectations_file: Path) -> int:
    """Decodes, re-encodes and checks a .binpb fixture; returns how many expectations it checked."""
    name = message_name(fixture)
    message = decode_binary(fixture)
    original = fixture.read_bytes()
    again = message.SerializeToString(deterministic=True)
    problems = [] if again == original else [describe_difference(name, original, again)]
    mine = [e for e in parse_expectations(expectations_file) if e.message == name]
    problems += [p for e in mine if (p := check_expectation(message, e)) is not None]
    if problems:
        raise FixtureError("\n".join(problems))
    return len(mine)


def python_read_json(fixture: Path) -> None:
    """Parses a .json fixture and requires the message that the .binpb beside it holds."""
    name = message_name(fixture)
    cls = message_class(name)
    if not fixture.is_file():
        raise FixtureError(f"{name}: {fixture.name} is missing")
    try:
        from_json = json_format.Parse(fixture.read_text(encoding="utf-8"), cls())
    except (json_format.ParseError, UnicodeDecodeError) as error:
        raise FixtureError(f"{name}: cannot parse {fixture.name} as proto3 JSON: {error}") from None
    from_binary = decode_binary(fixture.with_name(f"{name}.binpb"))
    if from_json != from_binary:
        raise FixtureError(
            f"{name}: {fixture.name} holds a different message than {name}.binpb\n"
            f"--- from JSON:\n{text_format.MessageToString(from_json)}"
            f"--- from binary:\n{text_format.MessageToString(from_binary)}"
        )


# --------------------------------------------------------------------------------------------------
# The C reader
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CReader:
    binary: Path
    generated: Path


@dataclass(frozen=True)
class CVerdict:
    ok: bool
    checked: int
    output: str
    returncode: int


_C_OK = re.compile(r"^ok: .*; (\d+) expectation\(s\) checked$", re.M)


def c_read(reader: CReader, fixture: Path, expectations_file: Path) -> CVerdict:
    run = subprocess.run(
        [str(reader.binary), str(fixture), str(expectations_file)],
        capture_output=True, text=True, timeout=60,
    )
    match = _C_OK.search(run.stdout)
    return CVerdict(
        ok=run.returncode == 0,
        checked=int(match.group(1)) if match else -1,
        output=(run.stdout + run.stderr).strip(),
        returncode=run.returncode,
    )


# --------------------------------------------------------------------------------------------------
# Code generation (session scoped, in temporary folders)
# --------------------------------------------------------------------------------------------------


def run_tool(command: list[str], what: str) -> subprocess.CompletedProcess:
    tool = shutil.which(command[0]) if not os.path.isabs(command[0]) else command[0]
    if tool is None:
        pytest.fail(f"{what}: {command[0]!r} is not on PATH (scripts/setup.sh installs it)")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}):\n$ {shlex.join(command)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


@dataclass(frozen=True)
class Sources:
    protos: tuple[Path, ...]  # absolute paths of every .proto under proto/
    selftest_root: Path  # holds SELFTEST_FILE


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    protos = tuple(sorted(PROTO_ROOT.rglob("*.proto")))
    if not protos:
        pytest.fail(f"no .proto files under {PROTO_ROOT}")
    selftest_root = tmp_path_factory.mktemp("selftest-proto")
    (selftest_root / SELFTEST_FILE).write_text(SELFTEST_PROTO, encoding="utf-8")
    return Sources(protos, selftest_root)


def _import_generated(root: Path, path: Path):
    """Imports a generated module by its own name (`courier.events.v1.events_pb2`)."""
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    top = name.split(".")[0]
    spec = sys.modules[top].__spec__ if top in sys.modules else importlib.util.find_spec(top)
    if spec is not None and str(root) in list(spec.submodule_search_locations or []):
        return importlib.import_module(name)
    # The top-level name belongs to an installed distribution (proto/grpc/health/... and grpcio's
    # `grpc`): load the generated file under its name without touching that package. Generated
    # imports between such files (`from grpc.testing import empty_pb2`) need the sub-packages that
    # the distribution lacks, so those are stood in for by namespace modules over the output folder.
    if name in sys.modules:
        return sys.modules[name]
    parts = name.split(".")
    for depth in range(2, len(parts)):
        package = ".".join(parts[:depth])
        if package in sys.modules:
            continue
        try:
            found = importlib.util.find_spec(package)
        except ModuleNotFoundError:
            found = None
        if found is None:
            stand_in = types.ModuleType(package)
            stand_in.__path__ = [str(root.joinpath(*parts[:depth]))]
            sys.modules[package] = stand_in
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def contracts(
    sources: Sources, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FileDescriptor, ...]]:
    """Generates and imports the Python classes; yields the file descriptors of proto/."""
    out = tmp_path_factory.mktemp("python-contracts")
    grpc_tools = importlib.util.find_spec("grpc_tools")
    if grpc_tools is None:
        pytest.fail("grpcio-tools is not installed in this Python (scripts/setup.sh installs it)")
    well_known = Path(grpc_tools.submodule_search_locations[0]) / "_proto"
    run_tool(
        [
            sys.executable, "-m", "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}", f"--proto_path={sources.selftest_root}",
            f"--proto_path={well_known}", f"--python_out={out}",
            *map(str, sources.protos), str(sources.selftest_root / SELFTEST_FILE),
        ],
        "python -m grpc_tools.protoc",
    )
    sys.path.insert(0, str(out))
    try:
        modules = [_import_generated(out, path) for path in sorted(out.rglob("*_pb2.py"))]
        names = {p.relative_to(PROTO_ROOT).as_posix() for p in sources.protos}
        yield tuple(m.DESCRIPTOR for m in modules if m.DESCRIPTOR.name in names)
    finally:
        sys.path.remove(str(out))


def _clear_proto3_optional(messages) -> int:
    cleared = 0
    for message in messages:
        for field in message.field:
            if field.proto3_optional:
                field.proto3_optional = False
                cleared += 1
        cleared += _clear_proto3_optional(message.nested_type)
    return cleared


def _write_descriptor_table(generated: Path) -> Path:
    headers = sorted(p.relative_to(generated).as_posix() for p in generated.rglob("*.pb-c.h"))
    symbols = []
    for header in headers:
        text = (generated / header).read_text(encoding="utf-8")
        symbols += re.findall(r"^extern const ProtobufCMessageDescriptor (\w+);", text, re.M)
    table = generated / "descriptors.c"
    table.write_text(
        "/* Generated by Tests/Python/test_fixture_readers.py. DO NOT EDIT.\n"
        " * Every message descriptor that protoc-c emitted, for fixture_reader.c. */\n"
        "#include <stddef.h>\n"
        + "".join(f'#include "{h}"\n' for h in headers)
        + "\nconst ProtobufCMessageDescriptor *const courier_fixture_descriptors[] = {\n"
        + "".join(f"    &{s},\n" for s in symbols)
        + "};\nconst size_t courier_fixture_descriptor_count =\n"
        "    sizeof courier_fixture_descriptors / sizeof courier_fixture_descriptors[0];\n",
        encoding="utf-8",
    )
    return table


@pytest.fixture(scope="session")
def c_reader(sources: Sources, tmp_path_factory: pytest.TempPathFactory) -> CReader:
    """Generates C for proto/ and the well-known types it imports, and builds fixture_reader."""
    work = tmp_path_factory.mktemp("c-reader")
    generated = work / "generated"
    generated.mkdir()
    include = [f"-I{PROTO_ROOT}", f"-I{sources.selftest_root}", f"-I{SYSTEM_INCLUDE}"]
    inputs = [*map(str, sources.protos), str(sources.selftest_root / SELFTEST_FILE)]

    # One descriptor set with every file and its imports (timestamp.proto, descriptor.proto, ...).
    descriptor_set = work / "contracts.pb"
    run_tool(
        ["protoc", *include, "--include_imports", "--include_source_info",
         f"--descriptor_set_out={descriptor_set}", *inputs],
        "protoc (descriptor set for protoc-c)",
    )
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    # protoc-c 1.4.1 rejects proto3 `optional`; as an ordinary one-field oneof the field keeps its
    # wire encoding and presence (see the module docstring).
    for file in files.file:
        _clear_proto3_optional(file.message_type)
    for_protoc_c = work / "contracts-for-protoc-c.pb"
    for_protoc_c.write_bytes(files.SerializeToString())
    run_tool(
        ["protoc-c", f"--descriptor_set_in={for_protoc_c}", f"--c_out={generated}",
         *(file.name for file in files.file)],
        "protoc-c --c_out",
    )

    table = _write_descriptor_table(generated)
    pkg_config = run_tool(
        ["pkg-config", "--cflags", "--libs", "libprotobuf-c"], "pkg-config libprotobuf-c"
    ).stdout.split()
    cc = shlex.split(os.environ.get("CC", "cc"))  # CC may carry flags (sanitizers, say)
    cflags = [flag for flag in pkg_config if not flag.startswith("-l")]
    common = ["-std=c11", "-O1", f"-I{generated}", *cflags]
    units = [(READER_SOURCE, ["-Wall", "-Wextra", "-Werror"]), (table, ["-Wall"])]
    units += [(source, []) for source in sorted(generated.rglob("*.pb-c.c"))]

    def compile_unit(unit: tuple[Path, list[str]]) -> Path:
        source, warnings = unit
        flat = source.relative_to(source.anchor).as_posix().replace("/", "_")
        obj = work / "objects" / f"{flat}.o"
        obj.parent.mkdir(exist_ok=True)
        run_tool(
            [*cc, *common, *warnings, "-c", str(source), "-o", str(obj)],
            f"compiling {source.name}",
        )
        return obj

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_unit, units))
    binary = work / "fixture_reader"
    run_tool(
        [*cc, *map(str, objects), "-o", str(binary), *pkg_config, "-lm"], "linking fixture_reader"
    )
    return CReader(binary, generated)


# --------------------------------------------------------------------------------------------------
# What must have fixtures
# --------------------------------------------------------------------------------------------------


def _all_messages(file: FileDescriptor) -> Iterator[Descriptor]:
    stack = list(file.message_types_by_name.values())
    while stack:
        message = stack.pop()
        yield message
        stack.extend(message.nested_types)


def contract_messages(files: tuple[FileDescriptor, ...]) -> dict[str, str]:
    """Full name -> why it needs fixtures: RPC messages of courier.* services, events, envelope."""
    pool = descriptor_pool.Default()
    event = pool.FindExtensionByName(EVENT_OPTION)
    envelope = pool.FindExtensionByName(ENVELOPE_OPTION)
    required: dict[str, str] = {}
    for file in files:
        if file.package.startswith("courier."):
            for service in file.services_by_name.values():
                for method in service.methods:
                    rpc = f"{service.full_name}/{method.name}"
                    required.setdefault(method.input_type.full_name, f"request of {rpc}")
                    required.setdefault(method.output_type.full_name, f"response of {rpc}")
        for message in _all_messages(file):
            options = message.GetOptions()
            if options.HasExtension(event):
                required[message.full_name] = f"event on {options.Extensions[event].topic}"
            if options.HasExtension(envelope) and options.Extensions[envelope]:
                required[message.full_name] = "the event envelope"
    pool.FindMessageTypeByName(ENVELOPE)  # KeyError if the envelope moved: update this suite
    required.setdefault(ENVELOPE, "the event envelope")
    return dict(sorted(required.items()))


# --------------------------------------------------------------------------------------------------
# Canonical instances (for the self-tests; the lead's fixtures come from Swift)
# --------------------------------------------------------------------------------------------------


def _scalar(field: FieldDescriptor):
    n, t, T = field.number, field.type, FieldDescriptor
    if t == T.TYPE_STRING:
        return f"{field.name}-{n}"
    if t == T.TYPE_BYTES:
        return bytes([n & 0xFF, 0x00, 0xFF, 0x7F])
    if t == T.TYPE_BOOL:
        return True
    if t == T.TYPE_DOUBLE:
        return n + 0.25
    if t == T.TYPE_FLOAT:
        return n + 0.5
    if t == T.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if t in (T.TYPE_INT32, T.TYPE_SINT32, T.TYPE_SFIXED32):
        return -(1000 + n)
    if t in (T.TYPE_INT64, T.TYPE_SINT64, T.TYPE_SFIXED64):
        return -(2**40 + n)
    if t in (T.TYPE_UINT32, T.TYPE_FIXED32):
        return 4_000_000_000 + n
    return 2**63 + n  # uint64, fixed64


def _build_well_known(message: Message) -> bool:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = 1_700_000_000, 123_000_000
    elif name == "google.protobuf.Duration":
        message.seconds, message.nanos = 90, 500_000_000
    elif name == "google.protobuf.FieldMask":
        message.paths.append("display_name")
    elif name == "google.protobuf.Any":
        message.Pack(message_class("google.protobuf.Timestamp")(seconds=1_700_000_000))
    elif name == "google.protobuf.Struct":
        message.fields["key"].string_value = "value"
    elif name == "google.protobuf.Value":
        message.string_value = "value"
    elif name == "google.protobuf.ListValue":
        message.values.add().string_value = "value"
    else:
        return False
    return True


def build_canonical(message: Message, depth: int = 0) -> Message:
    """Sets every field: one arm of each oneof, one element per repeated field, one map entry."""
    if _build_well_known(message):
        return message
    oneofs_done = set()
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None:
            if field.containing_oneof.name in oneofs_done:
                continue
            oneofs_done.add(field.containing_oneof.name)
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if is_message and depth >= 4:
            continue  # recursive types
        value = getattr(message, field.name)
        if is_message and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name
            key, value_field = _scalar(entry["key"]), entry["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                build_canonical(value[key], depth + 1)
            else:
                value[key] = _scalar(value_field)
        elif field.is_repeated:
            if is_message:
                build_canonical(value.add(), depth + 1)
            else:
                value.append(_scalar(field))
        elif is_message:
            value.SetInParent()
            build_canonical(value, depth + 1)
        else:
            setattr(message, field.name, _scalar(field))
    return message


def _scalar_paths(
    message: Message, prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, str, str]]:
    for field in message.DESCRIPTOR.fields:
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if is_message and field.message_type.GetOptions().map_entry:
            continue
        path, value = prefix + field.name, getattr(message, field.name)
        if field.is_repeated:
            if not value:
                continue
            path, value = f"{path}[0]", value[0]
        if is_message:
            if depth < 3 and (field.is_repeated or message.HasField(field.name)):
                yield from _scalar_paths(value, f"{path}.", depth + 1)
            continue
        kind = _KIND_OF_TYPE[field.type]
        show = {"bool": lambda v: str(v).lower(), "bytes": bytes.hex, "double": repr}.get(kind, str)
        text = show(value)
        yield path, kind, text


def canonical_expectations(message: Message) -> list[str]:
    """Expectations lines for every scalar the message reaches (unset oneof arms as defaults)."""
    name = message.DESCRIPTOR.full_name
    return [f"{name}\t{path}\t{kind}\t{text}" for path, kind, text in _scalar_paths(message)]


def write_fixture(folder: Path, message: Message) -> Path:
    """Writes <name>.binpb, <name>.json and appends to expectations.tsv, like the Swift tests."""
    name = message.DESCRIPTOR.full_name
    fixture = folder / f"{name}.binpb"
    fixture.write_bytes(message.SerializeToString(deterministic=True))
    (folder / f"{name}.json").write_text(json_format.MessageToJson(message), encoding="utf-8")
    with (folder / "expectations.tsv").open("a", encoding="utf-8") as tsv:
        tsv.write("".join(f"{line}\n" for line in canonical_expectations(message)))
    return fixture


# --------------------------------------------------------------------------------------------------
# The fixtures in Tests/Contract/Fixtures
# --------------------------------------------------------------------------------------------------


def _fixture_files(suffix: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*{suffix}")) if FIXTURES.is_dir() else []


def _fixture_params(suffix: str) -> list:
    names = sorted(p.name[: -len(suffix)] for p in _fixture_files(suffix))
    return names or [pytest.param(None, id="no-fixtures")]


def _require(name: str | None, suffix: str) -> Path:
    if name is None:
        pytest.fail(f"no *{suffix} fixtures in {FIXTURES}: the Swift contract tests write them")
    return FIXTURES / f"{name}{suffix}"


def test_fixtures_folder_holds_fixtures() -> None:
    assert FIXTURES.is_dir(), f"{FIXTURES} is missing: the Swift contract tests write the fixtures"
    found = {suffix: sorted(FIXTURES.glob(f"*{suffix}")) for suffix in (".binpb", ".json")}
    assert found[".binpb"], f"no .binpb fixtures in {FIXTURES}"
    assert found[".json"], f"no .json fixtures in {FIXTURES}"
    assert EXPECTATIONS.is_file(), f"{EXPECTATIONS} is missing"


def test_every_contract_message_has_fixtures_and_expectations(contracts) -> None:
    required = contract_messages(contracts)
    problems = []
    for name, why in required.items():
        for suffix in (".binpb", ".json"):
            if not (FIXTURES / f"{name}{suffix}").is_file():
                problems.append(f"{name}{suffix} is missing ({why})")
    present = {message_name(path) for path in _fixture_files(".binpb")}
    try:
        lines = Counter(e.message for e in parse_expectations(EXPECTATIONS))
    except FixtureError as error:
        lines = Counter()
        problems.append(str(error))
    for name in sorted(set(required) | present):
        try:
            has_fields = bool(message_class(name).DESCRIPTOR.fields)
        except FixtureError:
            continue  # reported by test_every_fixture_and_expectation_names_a_contract_message
        if lines[name] == 0 and has_fields:  # a message without fields has nothing to expect
            problems.append(f"{name} has no line in expectations.tsv")
    assert not problems, (
        f"{len(problems)} coverage problem(s) in {FIXTURES} "
        f"({len(required)} messages need fixtures):\n" + "\n".join(problems)
    )


def test_every_fixture_and_expectation_names_a_contract_message(contracts) -> None:
    problems = []
    for path in _fixture_files(".binpb") + _fixture_files(".json"):
        try:
            message_class(message_name(path))
        except FixtureError as error:
            problems.append(f"{path.name}: {error}")
    try:
        expectations = parse_expectations(EXPECTATIONS)
    except FixtureError as error:
        pytest.fail(str(error))
    for e in expectations:
        if not (FIXTURES / f"{e.message}.binpb").is_file():
            problems.append(f"{e.where}: {e.message} has no .binpb fixture")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", _fixture_params(".binpb"))
def test_python_reader_binary(name: str | None, contracts) -> None:
    python_read_binary(_require(name, ".binpb"), EXPECTATIONS)


@pytest.mark.parametrize("name", _fixture_params(".json"))
def test_python_reader_json(name: str | None, contracts) -> None:
    python_read_json(_require(name, ".json"))


@pytest.mark.parametrize("name", _fixture_params(".binpb"))
def test_c_reader_binary(name: str | None, c_reader: CReader) -> None:
    fixture = _require(name, ".binpb")
    verdict = c_read(c_reader, fixture, EXPECTATIONS)
    if not verdict.ok:
        pytest.fail(
            f"the C reader rejected {fixture.name} (exit {verdict.returncode}):\n{verdict.output}"
        )
    lines = [e for e in parse_expectations(EXPECTATIONS) if e.message == name]
    assert verdict.checked == len(lines), (
        f"the C reader checked {verdict.checked} expectation(s) of {name}; "
        f"the file has {len(lines)}"
    )


# --------------------------------------------------------------------------------------------------
# Snapshots: fixture sets of earlier contract versions, decoded with the current contracts
# --------------------------------------------------------------------------------------------------

SNAPSHOTS = FIXTURES / "snapshots"
MANIFEST = "MANIFEST.tsv"


def snapshot_folders() -> list[Path]:
    if not SNAPSHOTS.is_dir():
        return []
    return sorted(d for d in SNAPSHOTS.iterdir() if d.is_dir() and not d.name.startswith("."))


def manifest_problems(folder: Path) -> list[str]:
    """Says how a snapshot differs from its MANIFEST.tsv: missing, changed or unlisted files."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return [f"{folder.name}: {MANIFEST} is missing"]
    listed: dict[str, str] = {}
    problems = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 2 or not re.fullmatch(r"[0-9a-f]{64}", columns[0]):
            problems.append(f"{folder.name}/{MANIFEST} line {number}: expected sha256<TAB>file, got {line!r}")
            continue
        listed[columns[1]] = columns[0]
    for name, digest in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{folder.name}/{name} was deleted; kept snapshots are never edited")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{folder.name}/{name} was changed (its SHA-256 is not the manifest's); kept snapshots are never edited")
    for path in sorted(folder.iterdir()):
        if path.name != MANIFEST and path.name not in listed:
            problems.append(f"{folder.name}/{path.name} is not in {MANIFEST}; take a new snapshot instead of adding to one")
    if not any(name.endswith(".binpb") for name in listed):
        problems.append(f"{folder.name}: {MANIFEST} lists no .binpb fixtures")
    return problems


def _reserved(descriptor: Descriptor) -> tuple[list[tuple[int, int]], set[str]]:
    """A message's reserved number ranges (end exclusive) and names."""
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    return [(r.start, r.end) for r in proto.reserved_range], set(proto.reserved_name)


def _json_name(name: str) -> str:
    """protoc's default JSON name: `deliverer_id` -> `delivererId`."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _unknown_fields(message: Message, path: str) -> Iterator[tuple[str, Descriptor, int, int]]:
    """(path, message type, field number, wire type) of every unknown field, at any depth."""
    for item in unknown_fields.UnknownFieldSet(message):
        yield path, message.DESCRIPTOR, item.field_number, item.wire_type
    for field in message.DESCRIPTOR.fields:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        value = getattr(message, field.name)
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                for key in value:
                    yield from _unknown_fields(value[key], f"{path}{field.name}[{key!r}].")
        elif field.is_repeated:
            for index, element in enumerate(value):
                yield from _unknown_fields(element, f"{path}{field.name}[{index}].")
        elif message.HasField(field.name):
            yield from _unknown_fields(value, f"{path}{field.name}.")


def _enum_reserved_names(enum) -> set[str]:
    proto = descriptor_pb2.EnumDescriptorProto()
    enum.CopyToProto(proto)
    return set(proto.reserved_name)


def _map_key(field: FieldDescriptor, text: str):
    key_type = field.message_type.fields_by_name["key"].type
    if key_type == FieldDescriptor.TYPE_STRING:
        return text
    if key_type == FieldDescriptor.TYPE_BOOL:
        return text == "true"
    return int(text)


def _retire_json(document: object, message: Message, path: str, notes: list[str]) -> list[str]:
    """Checks a JSON object against the current message type, in place, walking the decoded binary.

    A key that no field has must be a reserved field name (it is then dropped); an enum value name
    that the current enum lacks must be one of its reserved names (it is then replaced by the number
    that the binary holds, which JSON also accepts). Returns the problems; `notes` collects the rest.
    """
    descriptor = message.DESCRIPTOR
    if descriptor.full_name.startswith("google.protobuf.") or not isinstance(document, dict):
        return []  # well-known types have their own JSON forms; a type mismatch fails the parse
    known = {f.json_name: f for f in descriptor.fields} | {f.name: f for f in descriptor.fields}
    _, reserved_names = _reserved(descriptor)
    retired = reserved_names | {_json_name(n) for n in reserved_names}
    problems = []
    for key in list(document):
        item, field = document[key], known.get(key)
        if field is None:
            if key in retired:
                notes.append(f"JSON key {path}{key} is a reserved name of {descriptor.full_name}")
                del document[key]
            else:
                problems.append(f"JSON key {path}{key}: {descriptor.full_name} has no such field, and no reserved name")
            continue
        value = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_ENUM:
            enum = field.enum_type
            names = [item] if not field.is_repeated else item if isinstance(item, list) else []
            for index, name in enumerate(names):
                if not isinstance(name, str) or name in enum.values_by_name:
                    continue
                if name not in _enum_reserved_names(enum):
                    problems.append(f"JSON value {path}{key}: {enum.full_name} has no value {name}, and no reserved name")
                    continue
                notes.append(f"JSON value {path}{key}: {name} is a reserved name of {enum.full_name}")
                if field.is_repeated:
                    item[index] = value[index]
                else:
                    document[key] = value
        elif field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        elif field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(item, dict):
                for entry_key, entry in item.items():
                    problems += _retire_json(entry, value[_map_key(field, entry_key)], f"{path}{key}[{entry_key!r}].", notes)
        elif field.is_repeated and isinstance(item, list):
            for index, element in enumerate(item):
                problems += _retire_json(element, value[index], f"{path}{key}[{index}].", notes)
        else:
            problems += _retire_json(item, value, f"{path}{key}.", notes)
    return problems


def _retired_by_path(message: Message, path: str) -> str | None:
    """If an expectations path goes through a field that is gone and reserved, says which."""
    descriptor = message.DESCRIPTOR
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            return None
        field = descriptor.fields_by_name.get(match.group(1))
        if field is None:
            _, names = _reserved(descriptor)
            return f"{descriptor.full_name}.{match.group(1)}" if match.group(1) in names else None
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            return None
        descriptor = field.message_type
    return None


def check_snapshot_fixture(
    folder: Path, name: str, expectations: list[Expectation], lookup=None
) -> list[str]:
    """Reads one kept fixture with the current contracts; returns notes, raises FixtureError.

    The binary must decode; a field it holds that the current message does not know must have a
    reserved number (it was deleted properly), and without such fields the bytes must re-encode
    unchanged. Every expectation must hold, except on fields that are gone and reserved. The JSON
    must parse: keys that no field has must be reserved names, and the rest must be the message that
    the binary holds.
    """
    lookup = lookup or message_class
    where = f"snapshot {folder.name}: {name}"
    try:
        cls = lookup(name)
    except (FixtureError, KeyError):
        raise FixtureError(
            f"{where}: the message is gone from the contracts; old clients still send it (deleting a message is a breaking change)"
        ) from None
    data = (folder / f"{name}.binpb").read_bytes()
    try:
        message = cls.FromString(data)
    except DecodeError as error:
        raise FixtureError(f"{where}: {name}.binpb no longer decodes: {error}") from None
    problems, notes = [], []
    unknown = list(_unknown_fields(message, ""))
    for path, descriptor, number, wire_type in unknown:
        ranges, _ = _reserved(descriptor)
        if any(start <= number < end for start, end in ranges):
            notes.append(f"{path}field {number} is reserved in {descriptor.full_name}")
        else:
            problems.append(
                f"{name}.binpb: {path}field {number} (wire type {wire_type}) is unknown to {descriptor.full_name} and its "
                "number is not reserved: the field was deleted or changed type"
            )
    if not unknown:
        again = message.SerializeToString(deterministic=True)
        if again != data:
            problems.append(describe_difference(name, data, again))
    for expectation in (e for e in expectations if e.message == name):
        retired = _retired_by_path(message, expectation.field)
        if retired is not None:
            notes.append(f"{expectation.field}: {retired} is reserved")
            continue
        problem = check_expectation(message, expectation)
        if problem is not None:
            problems.append(problem)
    json_path = folder / f"{name}.json"
    text = json_path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
        problems += [f"{name}.json: {p}" for p in _retire_json(document, message, "", notes)]
        from_json = json_format.ParseDict(document, cls(), ignore_unknown_fields=True)
    except (ValueError, KeyError, IndexError, json_format.ParseError) as error:
        problems.append(f"{name}.json no longer parses: {error}")
    else:
        known_only = cls()
        known_only.CopyFrom(message)
        known_only.DiscardUnknownFields()
        if from_json != known_only:
            problems.append(
                f"{name}.json holds a different message than {name}.binpb\n"
                f"--- from JSON:\n{text_format.MessageToString(from_json)}"
                f"--- from binary:\n{text_format.MessageToString(known_only)}"
            )
    if problems:
        raise FixtureError(f"{where}:\n" + "\n".join(problems))
    return notes


def _snapshot_params() -> list:
    params = []
    for folder in snapshot_folders():
        for path in sorted(folder.glob("*.binpb")):
            params.append(pytest.param(folder.name, message_name(path), id=f"{folder.name}/{message_name(path)}"))
    return params or [pytest.param(None, None, id="no-snapshots")]


def test_snapshots_are_kept_unchanged() -> None:
    folders = snapshot_folders()
    assert folders, f"no snapshots in {SNAPSHOTS}: keep the current set with scripts/make_fixtures.py --snapshot NAME"
    problems = [p for folder in folders for p in manifest_problems(folder)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("snapshot, name", _snapshot_params())
def test_snapshot_decodes_with_the_current_contracts(snapshot: str | None, name: str | None, contracts) -> None:
    if snapshot is None:
        pytest.fail(f"no snapshots in {SNAPSHOTS}")
    folder = SNAPSHOTS / snapshot
    check_snapshot_fixture(folder, name, parse_expectations(folder / "expectations.tsv"))


def test_every_snapshot_fixture_has_its_json_twin() -> None:
    for folder in snapshot_folders():
        binaries = {message_name(p) for p in folder.glob("*.binpb")}
        jsons = {message_name(p) for p in folder.glob("*.json")}
        assert binaries == jsons, f"{folder.name}: only binary {sorted(binaries - jsons)}, only JSON {sorted(jsons - binaries)}"


def test_the_manifest_check_notices_edits(tmp_path: Path) -> None:
    folder = tmp_path / "v0-test"
    shutil.copytree(snapshot_folders()[0], folder)
    assert manifest_problems(folder) == []
    victim = sorted(folder.glob("*.binpb"))[-1]
    victim.write_bytes(victim.read_bytes() + b"\x00")
    (folder / "courier.extra.v1.Added.binpb").write_bytes(b"")
    gone = sorted(folder.glob("*.json"))[0]
    gone.unlink()
    problems = "\n".join(manifest_problems(folder))
    assert f"{victim.name} was changed" in problems
    assert "courier.extra.v1.Added.binpb is not in MANIFEST.tsv" in problems
    assert f"{gone.name} was deleted" in problems


# A contract at an old version and the ways it may have evolved since. The snapshot is written with
# the old classes and read with each new one, each in its own descriptor pool.
EVOLVING_OLD = """\
syntax = "proto3";
package courier_snapshots.v1;
message Part {
  string label = 1;
  int32 grams = 2;
}
message Parcel {
  string id = 1;
  int32 weight = 2;
  string note = 3;
  repeated string tags = 4;
  Part part = 5;
  map<string, Part> parts = 6;
  Size size = 7;
}
enum Size {
  SIZE_UNSPECIFIED = 0;
  SIZE_SMALL = 1;
}
"""
PARCEL = "courier_snapshots.v1.Parcel"


def _evolved(old: str, new: str) -> str:
    assert EVOLVING_OLD.count(old) == 1, old
    return EVOLVING_OLD.replace(old, new)


EVOLUTIONS = {
    "unchanged": (EVOLVING_OLD, None),
    "field-added": (_evolved("  Size size = 7;\n", "  Size size = 7;\n  bool fragile = 8;\n"), None),
    "enum-value-added": (_evolved("  SIZE_SMALL = 1;\n", "  SIZE_SMALL = 1;\n  SIZE_LARGE = 2;\n"), None),
    "field-deleted-and-reserved": (_evolved("  string note = 3;\n", '  reserved 3;\n  reserved "note";\n'), None),
    "nested-field-deleted-and-reserved": (_evolved("  int32 grams = 2;\n", '  reserved 2;\n  reserved "grams";\n'), None),
    "field-deleted": (_evolved("  string note = 3;\n", ""), r"field 3 \(wire type 2\) is unknown to courier_snapshots\.v1\.Parcel and its number is not reserved[\s\S]*JSON key note: .* no reserved name"),
    "nested-field-deleted": (_evolved("  int32 grams = 2;\n", ""), r"part\.field 2 \(wire type 0\) is unknown to courier_snapshots\.v1\.Part"),
    "number-reserved-name-not": (_evolved("  string note = 3;\n", "  reserved 3;\n"), r"JSON key note: courier_snapshots\.v1\.Parcel has no such field, and no reserved name"),
    "type-changed": (_evolved("  int32 weight = 2;\n", "  string weight = 2;\n"), r"field 2 \(wire type 0\) is unknown to courier_snapshots\.v1\.Parcel"),
    "field-renamed": (_evolved("  string note = 3;\n", "  string remark = 3;\n"), r"JSON key note: courier_snapshots\.v1\.Parcel has no such field"),
    "enum-value-deleted": (_evolved("  SIZE_SMALL = 1;\n", "  reserved 1;\n"), r"JSON value size: courier_snapshots\.v1\.Size has no value SIZE_SMALL, and no reserved name"),
    "enum-value-deleted-and-reserved": (_evolved("  SIZE_SMALL = 1;\n", '  reserved 1;\n  reserved "SIZE_SMALL";\n'), None),
    "enum-value-renamed": (_evolved("  SIZE_SMALL = 1;\n", "  SIZE_LITTLE = 1;\n"), r"Size has no value SIZE_SMALL"),
    "message-deleted": (EVOLVING_OLD.replace("message Parcel {", "message Box {"), r"the message is gone from the contracts"),
}


def _pool_classes(tmp_path: Path, text: str, tag: str):
    root = tmp_path / tag
    root.mkdir()
    (root / "parcel.proto").write_text(text, encoding="utf-8")
    out = root / "parcel.pb"
    run_tool(["protoc", f"-I{root}", f"--descriptor_set_out={out}", "parcel.proto"], f"protoc ({tag})")
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    return lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


@pytest.mark.parametrize("evolution", EVOLUTIONS)
def test_snapshot_check_follows_the_evolution_rules(evolution: str, tmp_path: Path) -> None:
    new_text, complaint = EVOLUTIONS[evolution]
    old_classes = _pool_classes(tmp_path, EVOLVING_OLD, "old")
    folder = tmp_path / "snapshot"
    folder.mkdir()
    old = build_canonical(old_classes(PARCEL)())
    write_fixture(folder, old)
    new_classes = _pool_classes(tmp_path, new_text, "new")
    expectations = parse_expectations(folder / "expectations.tsv")
    assert any(e.field == "note" for e in expectations) and any(e.field == "part.grams" for e in expectations)
    if complaint is None:
        check_snapshot_fixture(folder, PARCEL, expectations, lookup=new_classes)
    else:
        with pytest.raises(FixtureError) as raised:
            check_snapshot_fixture(folder, PARCEL, expectations, lookup=new_classes)
        assert re.search(complaint, str(raised.value)), str(raised.value)


def test_snapshot_check_notes_what_it_skipped(tmp_path: Path) -> None:
    old_classes = _pool_classes(tmp_path, EVOLVING_OLD, "old")
    folder = tmp_path / "snapshot"
    folder.mkdir()
    write_fixture(folder, build_canonical(old_classes(PARCEL)()))
    new_classes = _pool_classes(tmp_path, EVOLUTIONS["field-deleted-and-reserved"][0], "new")
    notes = check_snapshot_fixture(folder, PARCEL, parse_expectations(folder / "expectations.tsv"), lookup=new_classes)
    assert notes == [
        "field 3 is reserved in courier_snapshots.v1.Parcel",
        "note: courier_snapshots.v1.Parcel.note is reserved",
        "JSON key note is a reserved name of courier_snapshots.v1.Parcel",
    ]


# --------------------------------------------------------------------------------------------------
# The readers themselves: they accept what they should and reject what they should
# --------------------------------------------------------------------------------------------------


def test_c_reader_knows_every_message_of_the_contracts(contracts, c_reader: CReader) -> None:
    listed = subprocess.run(
        [str(c_reader.binary), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {m.full_name for file in contracts for m in _all_messages(file)}
    missing = sorted(expected - set(listed))
    assert not missing, f"missing from the C descriptor table: {missing}"


def test_readers_accept_canonical_instances_of_every_message(
    contracts, c_reader: CReader, tmp_path: Path
) -> None:
    """Positive control: every message of proto/ (and the self-test), built and written here."""
    names = sorted(
        message.full_name
        for file in contracts
        for message in _all_messages(file)
        if not message.GetOptions().map_entry
    )
    names.append(SELFTEST_MESSAGE)
    problems = []
    for name in names:
        fixture = write_fixture(tmp_path, build_canonical(message_class(name)()))
        for read in (lambda: python_read_binary(fixture, tmp_path / "expectations.tsv"),
                     lambda: python_read_json(fixture.with_suffix(".json"))):
            try:
                read()
            except FixtureError as error:
                problems.append(f"python: {error}")
        verdict = c_read(c_reader, fixture, tmp_path / "expectations.tsv")
        if not verdict.ok:
            problems.append(f"c: {verdict.output}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def sample(contracts, tmp_path: Path) -> Path:
    """A canonical AllKinds fixture with expectations for every scalar field, in a fresh folder."""
    return write_fixture(tmp_path, build_canonical(message_class(SELFTEST_MESSAGE)()))


def read_with(reader: str, c_reader: CReader | None, fixture: Path) -> str | None:
    """Runs one reader; returns its complaint, or None when it accepts the fixture."""
    expectations = fixture.parent / "expectations.tsv"
    if reader == "python":
        try:
            python_read_binary(fixture, expectations)
        except FixtureError as error:
            return str(error)
        return None
    verdict = c_read(c_reader, fixture, expectations)
    if verdict.ok:
        return None
    assert verdict.returncode == 1, (
        f"the C reader crashed or misbehaved (exit {verdict.returncode}):\n{verdict.output}"
    )
    return verdict.output


READERS = ("python", "c")


@pytest.fixture
def reader_binary(request: pytest.FixtureRequest) -> CReader | None:
    """The built C reader for tests parametrized with reader="c"; Python tests skip the build."""
    if request.node.callspec.params["reader"] == "c":
        return request.getfixturevalue("c_reader")
    return None


@pytest.mark.parametrize("reader", READERS)
def test_reader_accepts_the_intact_sample(reader: str, reader_binary, sample: Path) -> None:
    expectations = parse_expectations(sample.parent / "expectations.tsv")
    assert {e.field for e in expectations} == set(SELFTEST_SCALAR_FIELDS)
    assert read_with(reader, reader_binary, sample) is None
    if reader == "c":
        checked = c_read(reader_binary, sample, sample.parent / "expectations.tsv").checked
        assert checked == len(SELFTEST_SCALAR_FIELDS)


def _damage_flip_tag(data: bytes) -> bytes:
    return bytes([data[0] | 0x07]) + data[1:]  # wire type 7 does not exist


def _damage_truncate(data: bytes) -> bytes:
    return data[:-1]  # every field ends in its last byte, so one byte less cannot decode


def _damage_reorder(data: bytes) -> bytes:
    # Moves field 1 (`text`: tag, one-byte length, value) behind the others: the same message, but
    # not the canonical encoding, which is in field-number order.
    assert data[0] == 0x0A and data[1] < 0x80
    first = 2 + data[1]
    return data[first:] + data[:first]


DAMAGE = {
    "flipped-byte": (_damage_flip_tag, r"cannot decode"),
    "truncated": (_damage_truncate, r"cannot decode"),
    "non-canonical": (_damage_reorder, r"re-encoded bytes differ .* first difference at offset 0"),
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("reader", READERS)
def test_reader_rejects_damaged_bytes(
    reader: str, damage: str, reader_binary, sample: Path
) -> None:
    change, complaint = DAMAGE[damage]
    sample.write_bytes(change(sample.read_bytes()))
    verdict = read_with(reader, reader_binary, sample)
    assert verdict is not None, f"the {reader} reader accepted a {damage} fixture"
    assert re.search(complaint, verdict), verdict
    assert SELFTEST_MESSAGE in verdict


@pytest.mark.parametrize("reader", READERS)
def test_reader_rejects_a_changed_value(reader: str, reader_binary, sample: Path) -> None:
    data = sample.read_bytes()
    assert data.count(b"text-1") == 1
    sample.write_bytes(data.replace(b"text-1", b"text-9"))  # still decodes and round-trips
    verdict = read_with(reader, reader_binary, sample)
    assert verdict is not None, f"the {reader} reader accepted a changed string"
    assert re.search(r"field 'text': expected string \"text-1\", got \"text-9\"", verdict), verdict


def _wrong(kind: str, value: str) -> str:
    if kind == "string":
        return value + "x"
    if kind in ("int", "enum"):
        return str(int(value) + 1)
    if kind == "bool":
        return "false" if value == "true" else "true"
    if kind == "double":
        return repr(float(value) + 1e-6)
    return ("0" if value[:1] != "0" else "1") + value[1:]  # bytes


@pytest.mark.parametrize("field", SELFTEST_SCALAR_FIELDS)
@pytest.mark.parametrize("reader", READERS)
def test_reader_rejects_a_wrong_expectation(
    reader: str, field: str, reader_binary, sample: Path
) -> None:
    tsv = sample.parent / "expectations.tsv"
    lines = tsv.read_text(encoding="utf-8").splitlines()
    (line,) = [l for l in lines if l.split("\t")[1] == field]
    name, _, kind, value = line.split("\t")
    wrong = f"{name}\t{field}\t{kind}\t{_wrong(kind, value)}"
    tsv.write_text(f"# only {field}, with a wrong value\n{wrong}\n", encoding="utf-8")
    verdict = read_with(reader, reader_binary, sample)
    assert verdict is not None, f"the {reader} reader accepted a wrong {kind} for {field}"
    assert f"field '{field}': expected {kind}" in verdict, verdict
    assert "expectations.tsv line 2" in verdict, verdict


@pytest.mark.parametrize(
    "line, complaint",
    [
        ("{name}\tno_such_field\tstring\tx", r"has no field named 'no_such_field'"),
        ("{name}\ti64\tstring\t-1099511627781", r"field 'i64' has kind 'string' .* read as 'int'"),
        ("{name}\tnested.nope\tstring\tx", r"the message .*\.Nested has no field named 'nope'"),
        ("{name}\ttags\tstring\tx", r"field 'tags' is repeated; name one element, as in"),
        ("{name}\ttags[5]\tstring\tx", r"field 'tags' has 1 element\(s\), so there is no \[5\]"),
        ("{name}\ttext[0]\tstring\tx", r"field 'text' is not repeated"),
        ("{name}\tnested\tstring\tx", r"field 'nested' is a message; name one of its scalar"),
        ("{name}\ttext.note\tstring\tx", r"field 'text' is not a message"),
        ("{name}\tlabels[0].key\tstring\tx", r"field 'labels' is a map"),
        ("{name}\ttags[x]\tstring\tx", r"'tags\[x\]' is not a field path"),
        ("{name}\ti64\tint\t12abc", r"'12abc' is not a decimal"),
        ("{name}\tflag\tbool\tyes", r"bool value must be 'true' or 'false'"),
        ("{name}\tblob\tbytes\t0g", r"bytes value must be an even number of hex digits"),
        ("{name}\ttext", r"expected 4 tab-separated columns"),
    ],
    ids=[
        "unknown-field", "wrong-kind", "unknown-nested-field", "repeated-without-index",
        "index-out-of-range", "index-on-singular", "message-field", "path-through-scalar", "map",
        "bad-path", "bad-number", "bad-bool", "bad-hex", "short-line",
    ],
)
@pytest.mark.parametrize("reader", READERS)
def test_reader_rejects_broken_expectations(
    reader: str, line: str, complaint: str, reader_binary, sample: Path
) -> None:
    tsv = sample.parent / "expectations.tsv"
    tsv.write_text(line.format(name=SELFTEST_MESSAGE) + "\n", encoding="utf-8")
    verdict = read_with(reader, reader_binary, sample)
    assert verdict is not None, f"the {reader} reader accepted {line!r}"
    assert re.search(complaint, verdict), verdict


@pytest.mark.parametrize("reader", READERS)
def test_reader_rejects_an_unknown_message(reader: str, reader_binary, sample: Path) -> None:
    renamed = sample.rename(sample.with_name("courier.nowhere.v1.Ghost.binpb"))
    verdict = read_with(reader, reader_binary, renamed)
    assert verdict is not None, f"the {reader} reader accepted a fixture of an unknown message"
    assert "courier.nowhere.v1.Ghost" in verdict and "no such message" in verdict, verdict


@pytest.mark.parametrize("reader", READERS)
def test_reader_allows_the_double_tolerance(reader: str, reader_binary, sample: Path) -> None:
    tsv = sample.parent / "expectations.tsv"
    amount = [l for l in tsv.read_text(encoding="utf-8").splitlines() if "\tamount\t" in l]
    (line,) = amount
    name, field, kind, value = line.split("\t")
    tsv.write_text(f"{name}\t{field}\t{kind}\t{float(value) + 5e-10!r}\n", encoding="utf-8")
    assert read_with(reader, reader_binary, sample) is None


def test_python_json_reader_rejects_a_changed_value(sample: Path) -> None:
    path = sample.with_suffix(".json")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["text"] = "text-9"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(FixtureError, match=r"holds a different message than .*\.binpb"):
        python_read_json(path)


def test_python_json_reader_rejects_malformed_json(sample: Path) -> None:
    path = sample.with_suffix(".json")
    path.write_text(path.read_text(encoding="utf-8")[:-3], encoding="utf-8")
    with pytest.raises(FixtureError, match=r"cannot parse .*\.json as proto3 JSON"):
        python_read_json(path)


def test_python_json_reader_rejects_an_unknown_field(sample: Path) -> None:
    path = sample.with_suffix(".json")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["noSuchField"] = 1
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(FixtureError, match=r"noSuchField"):
        python_read_json(path)
