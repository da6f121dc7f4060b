"""Tests of scripts/proto_breaking.py, the contract evolution gate.

Most cases copy the real proto/ twice (a base and a working tree), change the working tree the way a
person would, and run the gate from the working tree's folder so that reported paths start with
`proto/`. A case passes when the gate reports exactly the expected (file, line, rule) triples:

- lines of the working tree are marked in the edited text with a trailing `// @RULE_ID` comment
  (a comment changes nothing the gate compares);
- deletions are reported at the line of the base file, given as a snippet of the base's text.

Compatible changes must leave the gate quiet (exit 0). The git cases build throwaway repositories
to check how the base is chosen: the previous commit on main, the merge base on a branch, a tag, a
base without proto/, and a shallow clone without HEAD~1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "proto_breaking.py"
VIOLATION = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<rule>[A-Z_]+): (?P<element>[^:]+): (?P<message>.+)$")
MARKER = re.compile(r"//.*?@([A-Z_]+(?:\s+@[A-Z_]+)*)\s*$")

EVENTS = "proto/courier/events/v1/events.proto"
HERMES = "proto/courier/hermes/v1/hermes.proto"
IRIS = "proto/courier/iris/v1/iris.proto"


# --- helpers ---------------------------------------------------------------------------------------


def run_gate(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], cwd=cwd, capture_output=True, text=True, timeout=120)


def copy_tree(destination: Path) -> Path:
    shutil.copytree(REPO / "proto", destination / "proto")
    return destination / "proto"


def line_of(text: str, snippet: str) -> int:
    assert text.count(snippet) == 1, f"{snippet!r} occurs {text.count(snippet)} times; make it unique"
    return text[: text.index(snippet)].count("\n") + 1


def block(text: str, header: str) -> str:
    """The text from `header` to its matching closing brace and the newline after it."""
    start = text.index(header)
    depth, position = 0, text.index("{", start)
    while True:
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[start : position + 2]
        position += 1


@dataclass
class Case:
    """Edits (file, old, new) on the working tree; deletions expected at base lines."""

    edits: list[tuple[str, str, str]]
    deleted: list[tuple[str, str, str]] = field(default_factory=list)  # (file, base snippet, rule)
    add: dict[str, str] = field(default_factory=dict)  # new files: path -> text
    remove: list[str] = field(default_factory=list)  # files removed from the working tree
    move: dict[str, str] = field(default_factory=dict)  # old path -> new path
    element: str | None = None  # when set, every violation names this element


def apply(case: Case, base: Path, work: Path) -> set[tuple[str, int, str]]:
    expected = set()
    touched = set()
    for relative, old, new in case.edits:
        path = work.parent / relative
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {relative}"
        path.write_text(text.replace(old, new))
        touched.add(relative)
    for relative, text in case.add.items():
        path = work.parent / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        touched.add(relative)
    for relative in case.remove:
        (work.parent / relative).unlink()
    for old, new in case.move.items():
        target = work.parent / new
        target.parent.mkdir(parents=True, exist_ok=True)
        (work.parent / old).rename(target)
    for relative in touched:
        path = work.parent / relative
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                expected |= {(relative, number, rule) for rule in re.findall(r"@([A-Z_]+)", match.group(0))}
    for relative, snippet, rule in case.deleted:
        expected.add((relative, line_of((base.parent / relative).read_text(), snippet), rule))
    return expected


def reported(result: subprocess.CompletedProcess[str]) -> tuple[set[tuple[str, int, str]], list[re.Match]]:
    matches = []
    for line in result.stdout.splitlines() if result.returncode == 1 else []:
        match = VIOLATION.match(line)
        assert match, f"not a violation line: {line!r}\n{result.stderr}"
        matches.append(match)
    return {(m["path"], int(m["line"]), m["rule"]) for m in matches}, matches


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """(base proto root, working proto root): two copies of the real contracts."""
    return copy_tree(tmp_path / "base"), copy_tree(tmp_path / "work")


def check(case: Case, trees: tuple[Path, Path]) -> subprocess.CompletedProcess[str]:
    base, work = trees
    expected = apply(case, base, work)
    result = run_gate(work.parent, "--root", "proto", "--against-dir", str(base))
    found, matches = reported(result)
    assert found == expected, f"expected {sorted(expected)}\nreported {sorted(found)}\n{result.stdout}{result.stderr}"
    if expected:
        assert result.returncode == 1, result.stderr
        assert "breaking change(s)" in result.stderr
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("proto_breaking: ") and "compatible" in result.stdout
    if case.element is not None:
        assert {m["element"] for m in matches} == {case.element}, result.stdout
    return result


# --- breaking changes on the real contracts ------------------------------------------------------------

DELIVERER_ID = "  // The deliverer that carries the payload.\n  string deliverer_id = 4;\n"
GET_RECEIPT = block((REPO / HERMES).read_text(), "  rpc GetPayloadReceipt(")

BREAKING: dict[str, Case] = {
    "FIELD_NO_DELETE_UNLESS_RESERVED": Case(
        edits=[(EVENTS, DELIVERER_ID, "")],
        deleted=[(EVENTS, "string deliverer_id = 4;", "FIELD_NO_DELETE_UNLESS_RESERVED")],
        element="courier.events.v1.DeliveryPayloadChangedLocation.deliverer_id",
    ),
    "FIELD_NO_DELETE_UNLESS_RESERVED-number-only": Case(
        edits=[(EVENTS, DELIVERER_ID, "  reserved 4;\n")],
        deleted=[(EVENTS, "string deliverer_id = 4;", "FIELD_NO_DELETE_UNLESS_RESERVED")],
    ),
    "FIELD_NO_DELETE_UNLESS_RESERVED-name-only": Case(
        edits=[(EVENTS, DELIVERER_ID, '  reserved "deliverer_id";\n')],
        deleted=[(EVENTS, "string deliverer_id = 4;", "FIELD_NO_DELETE_UNLESS_RESERVED")],
    ),
    "FIELD_NO_RENUMBER": Case(
        edits=[(EVENTS, "string deliverer_id = 4;", "string deliverer_id = 6;  // @FIELD_NO_RENUMBER")],
        element="courier.events.v1.DeliveryPayloadChangedLocation.deliverer_id",
    ),
    "FIELD_SAME_NAME": Case(
        edits=[(EVENTS, "string deliverer_id = 4;", "string carrier_id = 4;  // @FIELD_SAME_NAME")],
    ),
    "FIELD_SAME_JSON_NAME": Case(
        edits=[(EVENTS, "string deliverer_id = 4;", 'string deliverer_id = 4 [json_name = "carrier"];  // @FIELD_SAME_JSON_NAME')],
    ),
    "FIELD_SAME_TYPE-scalar": Case(
        edits=[(EVENTS, "string deliverer_id = 4;", "bytes deliverer_id = 4;  // @FIELD_SAME_TYPE")],
    ),
    "FIELD_SAME_TYPE-message": Case(
        edits=[(EVENTS, "  courier.common.v1.Location location = 3;", "  courier.common.v1.GeoPoint location = 3;  // @FIELD_SAME_TYPE")],
    ),
    "FIELD_SAME_TYPE-enum": Case(
        edits=[(IRIS, "  DeliveryStatus status = 2;\n  // True when", "  int32 status = 2;  // @FIELD_SAME_TYPE\n  // True when")],
        element="courier.iris.v1.SendMailResponse.status",
    ),
    "FIELD_SAME_TYPE-map-value": Case(
        edits=[(EVENTS, "map<string, string> headers = 7;", "map<string, bytes> headers = 7;  // @FIELD_SAME_TYPE")],
    ),
    "FIELD_SAME_CARDINALITY-repeated": Case(
        edits=[(EVENTS, "string deliverer_id = 4;", "repeated string deliverer_id = 4;  // @FIELD_SAME_CARDINALITY")],
    ),
    "FIELD_SAME_CARDINALITY-optional": Case(
        edits=[(EVENTS, "string deliverer_id = 4;", "optional string deliverer_id = 4;  // @FIELD_SAME_CARDINALITY")],
    ),
    "FIELD_SAME_CARDINALITY-map": Case(
        edits=[(EVENTS, "map<string, string> headers = 7;", "repeated string headers = 7;  // @FIELD_SAME_CARDINALITY")],
    ),
    "FIELD_SAME_ONEOF-out": Case(
        edits=[(
            IRIS,
            "    // Send this subject and these parts as they are.\n    MailContent content = 5;\n  }\n",
            "  }\n  // Send this subject and these parts as they are.\n  MailContent content = 5;  // @FIELD_SAME_ONEOF\n",
        )],
    ),
    "FIELD_SAME_ONEOF-in": Case(
        edits=[(
            IRIS,
            "  string user_id = 3;\n  // What the mail says: from a template, or as written by the caller.\n  oneof source {\n",
            "  // What the mail says: from a template, or as written by the caller.\n  oneof source {\n    // The user.\n    string user_id = 3;  // @FIELD_SAME_ONEOF\n",
        )],
    ),
    "ENUM_VALUE_NO_DELETE_UNLESS_RESERVED": Case(
        edits=[(HERMES, "  LOCATION_REJECTION_REASON_TOO_OLD = 7;\n", "")],
        deleted=[(HERMES, "LOCATION_REJECTION_REASON_TOO_OLD = 7;", "ENUM_VALUE_NO_DELETE_UNLESS_RESERVED")],
        element="courier.hermes.v1.LocationRejectionReason.LOCATION_REJECTION_REASON_TOO_OLD",
    ),
    "ENUM_VALUE_NO_DELETE_UNLESS_RESERVED-number-only": Case(
        edits=[(HERMES, "  LOCATION_REJECTION_REASON_TOO_OLD = 7;\n", "  reserved 7;\n")],
        deleted=[(HERMES, "LOCATION_REJECTION_REASON_TOO_OLD = 7;", "ENUM_VALUE_NO_DELETE_UNLESS_RESERVED")],
    ),
    "ENUM_VALUE_SAME_NAME": Case(
        edits=[(HERMES, "LOCATION_REJECTION_REASON_TOO_OLD = 7;", "LOCATION_REJECTION_REASON_STALE = 7;  // @ENUM_VALUE_SAME_NAME")],
    ),
    "MESSAGE_NO_DELETE": Case(
        edits=[(EVENTS, block((REPO / EVENTS).read_text(), "message UserCreated {"), "")],
        deleted=[(EVENTS, "message UserCreated {", "MESSAGE_NO_DELETE")],
        element="courier.events.v1.UserCreated",
    ),
    "MESSAGE_NO_DELETE-moved-to-another-file": Case(
        edits=[(EVENTS, block((REPO / EVENTS).read_text(), "message UserCreated {"), "")],
        add={"proto/courier/events/v1/user_events.proto": textwrap.dedent(
            """\
            syntax = "proto3";
            package courier.events.v1;
            import "courier/options/v1/options.proto";
            // Moved here.
            message UserCreated {
              option (courier.options.v1.event) = {topic: "courier.user-created.v1" key_field: "user_id"};
              // The new user's id.
              string user_id = 1;
            }
            """
        )},
        deleted=[(EVENTS, "message UserCreated {", "MESSAGE_NO_DELETE")],
    ),
    "SERVICE_NO_DELETE": Case(
        edits=[(IRIS, block((REPO / IRIS).read_text(), "service LiveNotificationService {"), "")],
        deleted=[(IRIS, "service LiveNotificationService {", "SERVICE_NO_DELETE")],
        element="courier.iris.v1.LiveNotificationService",
    ),
    "RPC_NO_DELETE": Case(
        edits=[(HERMES, GET_RECEIPT, "")],
        deleted=[(HERMES, "rpc GetPayloadReceipt(", "RPC_NO_DELETE")],
        element="courier.hermes.v1.TrackingService.GetPayloadReceipt",
    ),
    "RPC_SAME_REQUEST_TYPE": Case(
        edits=[(
            HERMES,
            "rpc GetPayloadReceipt(GetPayloadReceiptRequest) returns (GetPayloadReceiptResponse) {",
            "rpc GetPayloadReceipt(GetDeliveryPayloadRequest) returns (GetPayloadReceiptResponse) {  // @RPC_SAME_REQUEST_TYPE",
        )],
    ),
    "RPC_SAME_RESPONSE_TYPE": Case(
        edits=[(HERMES, "returns (GetPayloadReceiptResponse) {", "returns (GetDeliveryPayloadResponse) {  // @RPC_SAME_RESPONSE_TYPE")],
    ),
    "RPC_SAME_STREAMING-server": Case(
        edits=[(HERMES, "returns (stream WatchPayloadPositionsResponse) {", "returns (WatchPayloadPositionsResponse) {  // @RPC_SAME_STREAMING")],
        element="courier.hermes.v1.TrackingService.WatchPayloadPositions",
    ),
    "RPC_SAME_STREAMING-client": Case(
        edits=[(
            HERMES,
            "rpc ReportLocation(stream ReportLocationRequest) returns (ReportLocationResponse) {",
            "rpc ReportLocation(ReportLocationRequest) returns (ReportLocationResponse) {  // @RPC_SAME_STREAMING",
        )],
    ),
    "RPC_SAME_IDEMPOTENCY_LEVEL": Case(
        edits=[(HERMES, GET_RECEIPT, GET_RECEIPT.replace("option idempotency_level = NO_SIDE_EFFECTS;", "option idempotency_level = IDEMPOTENT;  // @RPC_SAME_IDEMPOTENCY_LEVEL"))],
    ),
    "RPC_SAME_IDEMPOTENCY_LEVEL-removed": Case(
        edits=[(HERMES, GET_RECEIPT, GET_RECEIPT.replace("    option idempotency_level = NO_SIDE_EFFECTS;\n", "").replace("rpc GetPayloadReceipt(", "rpc GetPayloadReceipt(  // @RPC_SAME_IDEMPOTENCY_LEVEL\n    "))],
    ),
    "RPC_SAME_HTTP_RULE-path": Case(
        edits=[(HERMES, GET_RECEIPT, GET_RECEIPT.replace("option (courier.options.v1.http) = {", "option (courier.options.v1.http) = {  // @RPC_SAME_HTTP_RULE").replace("}/receipt", "}/receipt.pdf"))],
        element="courier.hermes.v1.TrackingService.GetPayloadReceipt",
    ),
    "RPC_SAME_HTTP_RULE-verb": Case(
        edits=[(HERMES, GET_RECEIPT, GET_RECEIPT.replace("option (courier.options.v1.http) = {", "option (courier.options.v1.http) = {  // @RPC_SAME_HTTP_RULE").replace('get: "/tracking', 'post: "/tracking'))],
    ),
    "RPC_SAME_HTTP_RULE-body": Case(
        edits=[(HERMES, '    option (courier.options.v1.http) = {\n      post: "/tracking/payload/{payload_tracking_code}"\n      body: "*"',
                '    option (courier.options.v1.http) = {  // @RPC_SAME_HTTP_RULE\n      post: "/tracking/payload/{payload_tracking_code}"\n      body: "title"')],
    ),
    "RPC_SAME_HTTP_RULE-removed": Case(
        edits=[(HERMES, GET_RECEIPT, GET_RECEIPT.replace('    option (courier.options.v1.http) = {\n      get: "/tracking/payload/{payload_tracking_code}/receipt"\n    };\n', "").replace("rpc GetPayloadReceipt(", "rpc GetPayloadReceipt(  // @RPC_SAME_HTTP_RULE\n    "))],
    ),
    "EVENT_SAME_TOPIC": Case(
        edits=[(
            EVENTS,
            '  option (courier.options.v1.event) = {\n    topic: "courier.user-created.v1"',
            '  option (courier.options.v1.event) = {  // @EVENT_SAME_TOPIC\n    topic: "courier.user-registered.v1"',
        )],
    ),
    "EVENT_SAME_KEY_FIELD": Case(
        edits=[(
            EVENTS,
            '  option (courier.options.v1.event) = {\n    topic: "courier.delivery-payload-changed-location.v1"\n    key_field: "delivery_payload_id"',
            '  option (courier.options.v1.event) = {  // @EVENT_SAME_KEY_FIELD\n    topic: "courier.delivery-payload-changed-location.v1"\n    key_field: "deliverer_id"',
        )],
    ),
    "EVENT_SAME_TOPIC-binding-removed": Case(
        edits=[(EVENTS, '  option (courier.options.v1.event) = {\n    topic: "courier.user-created.v1"\n    key_field: "user_id"\n  };\n', ""),
               (EVENTS, "message UserCreated {", "message UserCreated {  // @EVENT_SAME_TOPIC")],
    ),
    "FILE_NO_DELETE": Case(
        edits=[], remove=[IRIS],
        deleted=[(IRIS, "package courier.iris.v1;", "FILE_NO_DELETE")],
        element="courier/iris/v1/iris.proto",
    ),
    "FILE_NO_DELETE-moved": Case(
        edits=[], move={IRIS: "proto/courier/iris/v1/notifications.proto"},
        deleted=[(IRIS, "package courier.iris.v1;", "FILE_NO_DELETE")],
    ),
    "FILE_SAME_PACKAGE": Case(
        edits=[(IRIS, "package courier.iris.v1;", "package courier.iris.v2;  // @FILE_SAME_PACKAGE")],
        element="courier/iris/v1/iris.proto",
    ),
}
@pytest.mark.parametrize("name", BREAKING)
def test_breaking_change_is_reported(name: str, trees) -> None:
    check(BREAKING[name], trees)


def test_every_rule_has_a_case() -> None:
    rules = subprocess.run([sys.executable, str(SCRIPT), "--rules"], capture_output=True, text=True, check=True).stdout
    ids = {line.split()[0] for line in rules.splitlines()}
    covered = {name.split("-")[0] for name in BREAKING} | {name.split("-")[0] for name in CRAFTED}
    assert ids == covered, f"rules without a case: {sorted(ids - covered)}; cases without a rule: {sorted(covered - ids)}"


def test_deletions_say_the_line_is_in_the_base(trees) -> None:
    result = check(BREAKING["FIELD_NO_DELETE_UNLESS_RESERVED"], trees)
    base_line = line_of((trees[0].parent / EVENTS).read_text(), "string deliverer_id = 4;")
    assert f"(line {base_line} of the base)" in result.stdout
    assert 'add `reserved 4;` and `reserved "deliverer_id";`' in result.stdout


def test_moves_are_named(trees) -> None:
    result = check(BREAKING["FILE_NO_DELETE-moved"], trees)
    assert "moved to courier/iris/v1/notifications.proto" in result.stdout
    base, work = trees
    for p in (base, work):
        shutil.rmtree(p)
    copy_tree(base.parent), copy_tree(work.parent)
    result = check(BREAKING["MESSAGE_NO_DELETE-moved-to-another-file"], trees)
    assert "now defined in courier/events/v1/user_events.proto" in result.stdout


# --- rules that need small crafted files -------------------------------------------------------------


SHOP = "proto/courier/shop/v1/shop.proto"
SHOP_BASE = """\
syntax = "proto3";

package courier.shop.v1;

// An item.
message Item {
  reserved 9, 20 to 22;
  reserved "legacy";
  // Kinds of item.
  enum Kind {
    reserved 5;
    reserved "KIND_HUGE";
    // Not set.
    KIND_UNSPECIFIED = 0;
    // Small.
    KIND_SMALL = 1;
  }
  // The id.
  string id = 1;
  // A note.
  optional string note = 2;
  // The kind.
  Kind kind = 3;
}

// The colours.
enum Colour {
  option allow_alias = true;
  // Not set.
  COLOUR_UNSPECIFIED = 0;
  // Red.
  COLOUR_RED = 1;
  // Red, spelled the other way.
  COLOUR_ROUGE = 1;
}
"""


@dataclass
class Crafted:
    new: str  # the working tree's shop.proto; `// @RULE` marks expected lines
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (base snippet, rule)


CRAFTED: dict[str, Crafted] = {
    "FIELD_SAME_CARDINALITY-optional-removed": Crafted(SHOP_BASE.replace("  optional string note = 2;", "  string note = 2;  // @FIELD_SAME_CARDINALITY")),
    "RESERVED_NO_DELETE-field-number": Crafted(SHOP_BASE.replace("  reserved 9, 20 to 22;", "  reserved 9, 20 to 21;  // @RESERVED_NO_DELETE")),
    "RESERVED_NO_DELETE-field-name": Crafted(SHOP_BASE.replace('  reserved "legacy";\n', "").replace("message Item {", "message Item {  // @RESERVED_NO_DELETE")),
    "RESERVED_NO_DELETE-enum": Crafted(SHOP_BASE.replace("    reserved 5;\n", "").replace("  enum Kind {", "  enum Kind {  // @RESERVED_NO_DELETE")),
    "ENUM_NO_DELETE": Crafted(
        SHOP_BASE[: SHOP_BASE.index("// The colours.")],
        deleted=[("enum Colour {", "ENUM_NO_DELETE")],
    ),
    "ENUM_VALUE_SAME_NAME-alias": Crafted(
        SHOP_BASE.replace("  COLOUR_ROUGE = 1;\n", "").replace("  COLOUR_RED = 1;", "  COLOUR_RED = 1;\n  // Red again.\n  COLOUR_ROSSO = 1;")
        .replace("  COLOUR_RED = 1;", "  COLOUR_SCARLET = 1;  // @ENUM_VALUE_SAME_NAME")
    ),
    # COLOUR_RED still names 1, but JSON written with the alias COLOUR_ROUGE no longer parses.
    "ENUM_VALUE_SAME_NAME-alias-removed": Crafted(
        SHOP_BASE.replace("  // Red, spelled the other way.\n  COLOUR_ROUGE = 1;\n", "").replace("  option allow_alias = true;\n", "")
        .replace("  COLOUR_RED = 1;", "  COLOUR_RED = 1;  // @ENUM_VALUE_SAME_NAME")
    ),
}


def crafted_trees(tmp_path: Path, new: str) -> tuple[Path, Path]:
    base, work = tmp_path / "base" / "proto", tmp_path / "work" / "proto"
    for root, text in ((base, SHOP_BASE), (work, new)):
        path = root.parent / SHOP
        path.parent.mkdir(parents=True)
        path.write_text(text)
    return base, work


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_breaking_change_is_reported(name: str, tmp_path: Path) -> None:
    crafted = CRAFTED[name]
    base, work = crafted_trees(tmp_path, crafted.new)
    check(Case(edits=[], add={SHOP: crafted.new}, deleted=[(SHOP, s, r) for s, r in crafted.deleted]), (base, work))


CRAFTED_COMPATIBLE = {
    # A reserved field restored exactly as it was (reserved name and number used again together).
    "reservation-restored": SHOP_BASE.replace('  reserved 9, 20 to 22;\n  reserved "legacy";\n', "  reserved 20 to 22;\n").replace(
        "  Kind kind = 3;\n", "  Kind kind = 3;\n  // The legacy code, back.\n  string legacy = 9;\n"
    ),
    "reservations-grow": SHOP_BASE.replace("  reserved 9, 20 to 22;", "  reserved 9, 11, 20 to 30;").replace('reserved "KIND_HUGE";', 'reserved "KIND_HUGE", "KIND_TINY";'),
    "value-deleted-and-reserved": SHOP_BASE.replace("    // Small.\n    KIND_SMALL = 1;\n", "").replace('reserved "KIND_HUGE";', 'reserved "KIND_HUGE", "KIND_SMALL";').replace("reserved 5;", "reserved 1, 5;"),
}


@pytest.mark.parametrize("name", CRAFTED_COMPATIBLE)
def test_crafted_compatible_change_is_quiet(name: str, tmp_path: Path) -> None:
    new = CRAFTED_COMPATIBLE[name]
    check(Case(edits=[], add={SHOP: new}), crafted_trees(tmp_path, new))


# --- compatible changes ----------------------------------------------------------------------------------


def hermes_v2() -> str:
    text = (REPO / HERMES).read_text().replace("package courier.hermes.v1;", "package courier.hermes.v2;")
    text = text.replace('"/tracking/', '"/v2/tracking/')  # every Hermes route starts with /tracking/
    # The major version may break anything: here a field goes without a reservation.
    dropped = "  // A file name to save it under: `receipt-<tracking_code>.pdf`.\n  string file_name = 3;\n"
    assert text.count(dropped) == 1
    return text.replace(dropped, "")


COMPATIBLE: dict[str, Case] = {
    "field-added": Case(edits=[(EVENTS, DELIVERER_ID, DELIVERER_ID + "  // The deliverer's vehicle.\n  string vehicle_id = 6;\n")]),
    "field-deleted-and-reserved": Case(edits=[(EVENTS, DELIVERER_ID, '  reserved 4;\n  reserved "deliverer_id";\n')]),
    "message-added": Case(edits=[(EVENTS, "// A user account was created.", "// A deliverer went off duty.\nmessage DelivererOffDuty {\n  // Who.\n  string deliverer_id = 1;\n}\n\n// A user account was created.")]),
    "nested-message-and-enum-added": Case(edits=[(EVENTS, DELIVERER_ID, DELIVERER_ID + "  // Why.\n  enum Why { WHY_UNSPECIFIED = 0; }\n  // A detail.\n  message Detail { string text = 1; }\n")]),
    "enum-value-added": Case(edits=[(HERMES, "  LOCATION_REJECTION_REASON_TOO_OLD = 7;\n", "  LOCATION_REJECTION_REASON_TOO_OLD = 7;\n  // Teleported.\n  LOCATION_REJECTION_REASON_TELEPORTED = 40;\n")]),
    "enum-value-deleted-and-reserved": Case(edits=[(HERMES, "  LOCATION_REJECTION_REASON_TOO_OLD = 7;\n", '  reserved 7;\n  reserved "LOCATION_REJECTION_REASON_TOO_OLD";\n')]),
    "rpc-added": Case(edits=[(HERMES, GET_RECEIPT, GET_RECEIPT + "  // Pings.\n  rpc PingTracking(PingTrackingRequest) returns (PingTrackingResponse);\n"),
                             (HERMES, 'import "google/protobuf/timestamp.proto";', 'import "google/protobuf/timestamp.proto";\nimport "courier/hermes/v1/ping.proto";')],
                      add={"proto/courier/hermes/v1/ping.proto": 'syntax = "proto3";\npackage courier.hermes.v1;\nmessage PingTrackingRequest {}\nmessage PingTrackingResponse {}\n'}),
    "service-added": Case(edits=[(EVENTS, "// A user account was created.", "// Echoes.\nservice EchoService {\n  // Echo.\n  rpc Echo(UserCreated) returns (UserCreated);\n}\n\n// A user account was created.")]),
    "http-rule-added": Case(edits=[(HERMES, "rpc ReportLocation(stream ReportLocationRequest) returns (ReportLocationResponse) {\n", 'rpc ReportLocation(stream ReportLocationRequest) returns (ReportLocationResponse) {\n    option (courier.options.v1.http) = { post: "/deliverer/stream" body: "*" };\n')]),
    "event-binding-added": Case(edits=[(HERMES, "message ReportLocationRequest {\n", 'message ReportLocationRequest {\n  option (courier.options.v1.event) = { topic: "courier.fix.v1" key_field: "id" };\n  // Id.\n  string id = 2;\n')]),
    "field-added-to-a-oneof": Case(edits=[(IRIS, "    MailContent content = 5;\n", "    MailContent content = 5;\n    // Plain text.\n    string plain_text = 6;\n")]),
    "comments-and-layout": Case(edits=[
        (HERMES, "package courier.hermes.v1;", "// Extra words about the package.\n\n\npackage courier.hermes.v1;"),
        (EVENTS, "  // The deliverer that carries the payload.\n", "  // The deliverer that carries the payload; an Asgardian user id with the deliverer role.\n  // (More words.)\n"),
    ]),
    "new-file-and-package": Case(edits=[], add={"proto/courier/billing/v1/billing.proto": 'syntax = "proto3";\npackage courier.billing.v1;\n// An invoice.\nmessage Invoice { string id = 1; }\n'}),
    "new-major-version-beside-v1": Case(edits=[], add={"proto/courier/hermes/v2/hermes.proto": hermes_v2()}),
}


@pytest.mark.parametrize("name", COMPATIBLE)
def test_compatible_change_is_quiet(name: str, trees) -> None:
    result = check(COMPATIBLE[name], trees)
    assert f"{len(list(trees[1].rglob('*.proto')))} file(s) compatible" in result.stdout


def test_the_real_contracts_are_compatible_with_themselves(tmp_path: Path) -> None:
    result = run_gate(REPO, "--against-dir", str(REPO / "proto"))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(list((REPO / "proto").rglob("*.proto")))
    rules = len(subprocess.run([sys.executable, str(SCRIPT), "--rules"], capture_output=True, text=True, check=True).stdout.splitlines())
    assert result.stdout.strip() == f"proto_breaking: {count} file(s) compatible with {REPO / 'proto'} ({count} in the base, 0 added), {rules} rules"


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, complaint",
    [
        (["--against", "HEAD", "--against-dir", "x"], "not allowed with argument"),
        (["--against-dir", "/nonexistent/proto"], "--against-dir /nonexistent/proto is not a directory"),
        (["--root", "/nonexistent/proto"], "--root /nonexistent/proto is not a directory"),
        (["--protoc", "/nonexistent/protoc", "--against-dir", "."], "protoc not found at /nonexistent/protoc"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
    ids=["both-bases", "no-base-dir", "no-root", "no-protoc", "unknown-option"],
)
def test_usage_errors_exit_2(arguments: list[str], complaint: str, tmp_path: Path) -> None:
    result = run_gate(REPO, *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert complaint in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("side", ["working tree", "base"])
def test_protoc_syntax_errors_exit_2_with_protocs_message(side: str, trees) -> None:
    base, work = trees
    broken = (work if side == "working tree" else base).parent / EVENTS
    broken.write_text(broken.read_text().replace("string deliverer_id = 4;", "string deliverer_id = ;"))
    result = run_gate(work.parent, "--root", "proto", "--against-dir", str(base))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"protoc failed on the {side}" in result.stderr
    assert "courier/events/v1/events.proto:49:25: Expected field number." in result.stderr, result.stderr


def test_not_a_git_checkout_exits_2(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    result = run_gate(tmp_path, "--root", "proto", "--against", "HEAD~1")
    assert result.returncode == 2
    assert "is not inside a git checkout" in result.stderr


# --- choosing the base in git --------------------------------------------------------------------------


GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=GIT_ENV, timeout=60)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def edit(repo: Path, relative: str, old: str, new: str) -> None:
    path = repo / relative
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on main whose first commit has the real contracts."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    copy_tree(repo)
    commit_all(repo, "contracts")
    return repo


def gate_in(repo: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_gate(repo, "--root", "proto", *arguments)


def test_on_main_the_base_is_the_previous_commit(repo: Path) -> None:
    edit(repo, EVENTS, DELIVERER_ID, "")
    commit_all(repo, "drop a field")
    result = gate_in(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FIELD_NO_DELETE_UNLESS_RESERVED" in result.stdout
    assert "against HEAD~1" in result.stderr
    # A later compatible commit: the previous commit's contracts are the base now.
    edit(repo, EVENTS, "  string user_id = 1;\n  // The payload that moved.", '  string user_id = 1;\n  reserved 4;\n  reserved "deliverer_id";\n  // The payload that moved.')
    commit_all(repo, "reserve it")
    result = gate_in(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compatible with HEAD~1" in result.stdout


def test_uncommitted_changes_are_checked(repo: Path) -> None:
    (repo / "notes.txt").write_text("x")
    commit_all(repo, "second commit")
    edit(repo, HERMES, "LOCATION_REJECTION_REASON_TOO_OLD = 7;", "LOCATION_REJECTION_REASON_STALE = 7;")
    result = gate_in(repo)
    assert result.returncode == 1
    assert f"{HERMES}:" in result.stdout and "ENUM_VALUE_SAME_NAME" in result.stdout


def test_on_a_branch_the_base_is_the_merge_base_with_main(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, EVENTS, DELIVERER_ID, "")
    commit_all(repo, "drop a field")
    edit(repo, EVENTS, "// A user account was created.", "// More.\nmessage More {}\n\n// A user account was created.")
    commit_all(repo, "add a message")
    result = gate_in(repo)  # HEAD~1 already lacks the field; the merge base with main has it
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FIELD_NO_DELETE_UNLESS_RESERVED" in result.stdout
    assert "the merge base with main" in result.stderr
    assert gate_in(repo, "--against", "HEAD~1").returncode == 0


def test_against_a_tag(repo: Path) -> None:
    git(repo, "tag", "contracts-1")
    edit(repo, HERMES, 'get: "/tracking/payload/{payload_tracking_code}/receipt"', 'get: "/tracking/receipts/{payload_tracking_code}"')
    commit_all(repo, "move the receipt route")
    (repo / "notes.txt").write_text("x")
    commit_all(repo, "unrelated")
    assert gate_in(repo).returncode == 0  # HEAD~1 has the new route already
    result = gate_in(repo, "--against", "contracts-1")
    assert result.returncode == 1
    assert "RPC_SAME_HTTP_RULE" in result.stdout and "contracts-1" in result.stderr


def test_a_base_without_proto_passes_with_a_note(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("first\n")
    commit_all(repo, "first")
    copy_tree(repo)
    commit_all(repo, "contracts")
    result = gate_in(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "has no proto/ folder" in result.stdout


def test_a_shallow_clone_without_the_previous_commit(repo: Path, tmp_path: Path) -> None:
    (repo / "notes.txt").write_text("x")
    commit_all(repo, "second")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    result = gate_in(clone)
    assert result.returncode == 2
    assert "HEAD~1 is not in this clone" in result.stderr
    # The wrapper that scripts/test.sh runs says so and skips instead.
    shutil.copytree(REPO / "scripts", clone / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    wrapper = subprocess.run(
        ["bash", "scripts/check-contracts.sh", "--previous-commit"], cwd=clone, capture_output=True, text=True,
        env={**GIT_ENV, "PYTHON": sys.executable}, timeout=120,
    )
    assert wrapper.returncode == 0, wrapper.stdout + wrapper.stderr
    assert "skipped" in wrapper.stdout and "shallow" in wrapper.stdout


def test_the_wrapper_runs_the_gate(repo: Path) -> None:
    shutil.copytree(REPO / "scripts", repo / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    commit_all(repo, "scripts")
    edit(repo, EVENTS, "string deliverer_id = 4;", "int64 deliverer_id = 4;")
    env = {**GIT_ENV, "PYTHON": sys.executable}
    for arguments in ([], ["--previous-commit"]):
        result = subprocess.run(["bash", "scripts/check-contracts.sh", *arguments], cwd=repo, capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 1, result.stdout + result.stderr
        assert re.search(rf"^{re.escape(EVENTS)}:\d+: FIELD_SAME_TYPE: ", result.stdout, re.M), result.stdout


def test_a_v2_package_made_as_the_readme_says_passes_the_lint_too(trees) -> None:
    base, work = trees
    apply(COMPATIBLE["new-major-version-beside-v1"], base, work)
    lint = subprocess.run([sys.executable, str(REPO / "scripts" / "proto_lint.py"), "--root", "proto"], cwd=work.parent, capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
