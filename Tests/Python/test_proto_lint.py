"""Tests of scripts/proto_lint.py: the real contracts pass, each rule fires where it should.

Every bad tree below marks the lines where a violation is expected with a trailing comment
`// @RULE_ID` (a trailing comment is not a leading comment, so markers never satisfy COMMENTS).
A case passes when the lint reports exactly the marked (file, line, rule) triples: the rule fires
where it should and nothing else fires, which also keeps the surrounding "good" text honest.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "proto_lint.py"
VIOLATION = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<rule>[A-Z_]+): (?P<message>.+)$")
MARKER = re.compile(r"//.*?@([A-Z_]+(?:\s+@[A-Z_]+)*)")

HEADER = """\
syntax = "proto3";

package {package};

import "courier/options/v1/options.proto";
import "google/protobuf/empty.proto";
"""


def load_module():
    spec = importlib.util.spec_from_file_location("proto_lint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def proto(package: str, body: str) -> str:
    return HEADER.format(package=package) + "\n" + textwrap.dedent(body)


def shop(body: str) -> str:
    return proto("courier.shop.v1", body)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run_lint(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Lints tmp_path/proto from tmp_path, so reported paths start with `proto/`."""
    command = [sys.executable, str(SCRIPT), "--root", str(tmp_path / "proto"), "--include", str(REPO / "proto"), *arguments]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def expected_violations(files: dict[str, str]) -> set[tuple[str, int, str]]:
    expected = set()
    for relative, text in files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                for rule in re.findall(r"@([A-Z_]+)", match.group(0)):
                    expected.add((relative, number, rule))
    return expected


def reported_violations(stdout: str) -> set[tuple[str, int, str]]:
    reported = set()
    for line in stdout.splitlines():
        match = VIOLATION.match(line)
        assert match, f"not a violation line: {line!r}"
        reported.add((match["path"], int(match["line"]), match["rule"]))
    return reported


# A small service that passes every rule; the cases below break one thing at a time.
GOOD_SERVICE = shop(
    """\
    // Sells items.
    service ShopService {
      // Buys one item for the caller.
      rpc BuyItem(BuyItemRequest) returns (BuyItemResponse) {
        option (courier.options.v1.http) = {
          post: "/shop/items/{item_id}"
          body: "*"
        };
        option (courier.options.v1.access) = {level: ACCESS_LEVEL_ROLE roles: "user"};
      }
    }

    // What to buy.
    message BuyItemRequest {
      // The item to buy.
      string item_id = 1;
    }

    // What was bought.
    message BuyItemResponse {
      // The order that was placed.
      string order_id = 1;
    }
    """
)

CASES: dict[str, dict[str, str]] = {
    "PACKAGE_DIRECTORY_MATCH": {
        "proto/courier/shop/v2/shop.proto": proto(
            "courier.shop.v1",
            """\
            // An item.
            message Item {}
            """,
        ).replace("package courier.shop.v1;", "package courier.shop.v1;  // @PACKAGE_DIRECTORY_MATCH"),
    },
    "PACKAGE_VERSION_SUFFIX-missing": {
        "proto/courier/shop/shop.proto": proto("courier.shop", "// An item.\nmessage Item {}\n").replace(
            "package courier.shop;", "package courier.shop;  // @PACKAGE_VERSION_SUFFIX"
        ),
    },
    "PACKAGE_VERSION_SUFFIX-v0": {
        "proto/courier/shop/v0/shop.proto": proto("courier.shop.v0", "// An item.\nmessage Item {}\n").replace(
            "package courier.shop.v0;", "package courier.shop.v0;  // @PACKAGE_VERSION_SUFFIX"
        ),
    },
    "FILE_LOWER_SNAKE_CASE": {
        "proto/courier/shop/v1/ShopItems.proto": shop("// An item.\nmessage Item {}\n").replace(
            'syntax = "proto3";', 'syntax = "proto3";  // @FILE_LOWER_SNAKE_CASE'
        ),
    },
    "PACKAGE_LOWER_SNAKE_CASE": {
        "proto/courier/myShop/v1/shop.proto": proto("courier.myShop.v1", "// An item.\nmessage Item {}\n").replace(
            "package courier.myShop.v1;", "package courier.myShop.v1;  // @PACKAGE_LOWER_SNAKE_CASE"
        ),
    },
    "MESSAGE_PASCAL_CASE": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // An item.
            message shop_item {  // @MESSAGE_PASCAL_CASE
              // Its parts.
              message part_list {}  // @MESSAGE_PASCAL_CASE
            }
            """
        ),
    },
    "FIELD_LOWER_SNAKE_CASE": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // An item.
            message Item {
              // Its name.
              string itemName = 1;  // @FIELD_LOWER_SNAKE_CASE
              // Its price.
              int64 Price_Cents = 2;  // @FIELD_LOWER_SNAKE_CASE
            }
            """
        ),
    },
    "ENUM_PASCAL_CASE": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // Kinds of item.
            enum item_kind {  // @ENUM_PASCAL_CASE
              // Not set.
              ITEM_KIND_UNSPECIFIED = 0;
            }
            """
        ),
    },
    "ENUM_VALUE_UPPER_SNAKE_CASE": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // Kinds of item.
            enum ItemKind {
              // Not set.
              ITEM_KIND_UNSPECIFIED = 0;
              // Too big for a letter box.
              ITEM_KIND_Bulky = 1;  // @ENUM_VALUE_UPPER_SNAKE_CASE
            }
            """
        ),
    },
    "ENUM_VALUE_PREFIX": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // An item.
            message Item {
              // Kinds of item.
              enum ItemKind {
                // Not set.
                ITEM_KIND_UNSPECIFIED = 0;
                // Too big for a letter box.
                KIND_BULKY = 1;  // @ENUM_VALUE_PREFIX
              }
            }
            """
        ),
    },
    "ENUM_ZERO_VALUE_SUFFIX": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // Kinds of item.
            enum ItemKind {
              // Not set.
              ITEM_KIND_NONE = 0;  // @ENUM_ZERO_VALUE_SUFFIX
              // Too big for a letter box.
              ITEM_KIND_BULKY = 1;
            }
            """
        ),
    },
    "SERVICE_PASCAL_CASE": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            "service ShopService {", "service shopService {  // @SERVICE_PASCAL_CASE"
        ),
    },
    "SERVICE_SUFFIX": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace("service ShopService {", "service Shop {  // @SERVICE_SUFFIX"),
    },
    "RPC_PASCAL_CASE": {
        # The standard request/response names follow the RPC's name, so they break too.
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            "rpc BuyItem(BuyItemRequest) returns (BuyItemResponse) {",
            "rpc buyItem(buyItemRequest) returns (buyItemResponse) {  // @RPC_PASCAL_CASE",
        )
        .replace("message BuyItemRequest {", "message buyItemRequest {  // @MESSAGE_PASCAL_CASE")
        .replace("message BuyItemResponse {", "message buyItemResponse {  // @MESSAGE_PASCAL_CASE"),
    },
    "ONEOF_LOWER_SNAKE_CASE": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // How to pay.
            message Payment {
              // The means of payment.
              oneof Means {  // @ONEOF_LOWER_SNAKE_CASE
                // A card token.
                string card_token = 1;
                // A voucher code.
                string voucher_code = 2;
              }
            }
            """
        ),
    },
    "RPC_REQUEST_STANDARD_NAME": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            "rpc BuyItem(BuyItemRequest) returns (BuyItemResponse) {",
            "rpc BuyItem(ItemRequest) returns (BuyItemResponse) {  // @RPC_REQUEST_STANDARD_NAME",
        ).replace("message BuyItemRequest {", "message ItemRequest {"),
    },
    "RPC_REQUEST_STANDARD_NAME-other-package": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            'import "google/protobuf/empty.proto";', 'import "courier/stock/v1/stock.proto";'
        )
        .replace(
            "rpc BuyItem(BuyItemRequest) returns (BuyItemResponse) {",
            "rpc BuyItem(courier.stock.v1.BuyItemRequest) returns (BuyItemResponse) {  // @RPC_REQUEST_STANDARD_NAME",
        )
        .replace("message BuyItemRequest {", "message UnusedRequest {"),
        "proto/courier/stock/v1/stock.proto": proto(
            "courier.stock.v1",
            """\
            // A request kept in the wrong package.
            message BuyItemRequest {
              // The item to buy.
              string item_id = 1;
            }
            """,
        ),
    },
    "RPC_RESPONSE_STANDARD_NAME": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            "rpc BuyItem(BuyItemRequest) returns (BuyItemResponse) {",
            "rpc BuyItem(BuyItemRequest) returns (Order) {  // @RPC_RESPONSE_STANDARD_NAME",
        ).replace("message BuyItemResponse {", "message Order {"),
    },
    "RPC_REQUEST_RESPONSE_UNIQUE-shared": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // Sells items.
            service ShopService {
              // Buys one item.
              rpc BuyItem(BuyItemRequest) returns (BuyItemResponse);  // @RPC_REQUEST_RESPONSE_UNIQUE
              // Buys the same item again.
              rpc BuyAgain(BuyItemRequest) returns (BuyAgainResponse);  // @RPC_REQUEST_RESPONSE_UNIQUE @RPC_REQUEST_STANDARD_NAME
            }

            // What to buy.
            message BuyItemRequest {}

            // What was bought.
            message BuyItemResponse {}

            // What was bought again.
            message BuyAgainResponse {}
            """
        ),
    },
    "RPC_REQUEST_RESPONSE_UNIQUE-empty": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // Sells items.
            service ShopService {
              // Says whether the shop is open.
              rpc Ping(google.protobuf.Empty) returns (PingResponse);  // @RPC_REQUEST_RESPONSE_UNIQUE @RPC_REQUEST_STANDARD_NAME
            }

            // Whether the shop is open.
            message PingResponse {}
            """
        ),
    },
    "COMMENTS": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            service ShopService {  // @COMMENTS
              rpc BuyItem(BuyItemRequest) returns (BuyItemResponse);  // @COMMENTS
            }

            // A detached comment is no leading comment.

            message BuyItemRequest {  // @COMMENTS
              string item_id = 1;  // @COMMENTS
              oneof means {  // @COMMENTS
                // A card token.
                string card_token = 2;
              }
              // Labels (the map's entry message needs no comment).
              map<string, string> labels = 3;
              // Set or not.
              optional string note = 4;
            }

            // What was bought.
            message BuyItemResponse {}

            enum ItemKind {  // @COMMENTS
              ITEM_KIND_UNSPECIFIED = 0;  // @COMMENTS
            }
            """
        ),
    },
    "RPC_IDEMPOTENCY_LEVEL": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // Sells items.
            service ShopService {
              // Reads an item.
              rpc GetItem(GetItemRequest) returns (GetItemResponse);  // @RPC_IDEMPOTENCY_LEVEL
              // Reads an item over HTTP GET; idempotent is not enough.
              rpc FetchItem(FetchItemRequest) returns (FetchItemResponse) {
                option idempotency_level = IDEMPOTENT;  // @RPC_IDEMPOTENCY_LEVEL
                option (courier.options.v1.http) = {get: "/shop/items/{item_id}"};
                option (courier.options.v1.access) = {level: ACCESS_LEVEL_PUBLIC};
              }
              // "Getaway" is not a read.
              rpc Getaway(GetawayRequest) returns (GetawayResponse);
              // Lists items.
              rpc ListItems(ListItemsRequest) returns (ListItemsResponse);  // @RPC_IDEMPOTENCY_LEVEL
              // Follows items.
              rpc WatchItems(WatchItemsRequest) returns (stream WatchItemsResponse);  // @RPC_IDEMPOTENCY_LEVEL
              // Checks the stock.
              rpc CheckStock(CheckStockRequest) returns (CheckStockResponse);  // @RPC_IDEMPOTENCY_LEVEL
              // Searches items.
              rpc Search(SearchRequest) returns (SearchResponse);  // @RPC_IDEMPOTENCY_LEVEL
              // Named like a read but reserves stock: an explicit IDEMPOTENCY_UNKNOWN opts out.
              rpc GetReservation(GetReservationRequest) returns (GetReservationResponse) {
                option idempotency_level = IDEMPOTENCY_UNKNOWN;
              }
              // An HTTP GET can never opt out.
              rpc GetQuote(GetQuoteRequest) returns (GetQuoteResponse) {
                option idempotency_level = IDEMPOTENCY_UNKNOWN;  // @RPC_IDEMPOTENCY_LEVEL
                option (courier.options.v1.http) = {get: "/shop/quotes"};
                option (courier.options.v1.access) = {level: ACCESS_LEVEL_PUBLIC};
              }
            }

            // In.
            message GetReservationRequest {}
            // Out.
            message GetReservationResponse {}
            // In.
            message GetQuoteRequest {}
            // Out.
            message GetQuoteResponse {}

            // Which item.
            message GetItemRequest {}
            // The item.
            message GetItemResponse {}
            // Which item.
            message FetchItemRequest {
              // The item's id.
              string item_id = 1;
            }
            // The item.
            message FetchItemResponse {}
            // Where to.
            message GetawayRequest {}
            // Bon voyage.
            message GetawayResponse {}
            // In.
            message ListItemsRequest {}
            // Out.
            message ListItemsResponse {}
            // In.
            message WatchItemsRequest {}
            // Out.
            message WatchItemsResponse {}
            // In.
            message CheckStockRequest {}
            // Out.
            message CheckStockResponse {}
            // In.
            message SearchRequest {}
            // Out.
            message SearchResponse {}
            """
        ),
    },
    "HTTP_ACCESS-missing": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            '    option (courier.options.v1.access) = {level: ACCESS_LEVEL_ROLE roles: "user"};\n', ""
        ).replace("option (courier.options.v1.http) = {", "option (courier.options.v1.http) = {  // @HTTP_ACCESS"),
    },
    "HTTP_ACCESS-unknown-role": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            'roles: "user"};', 'roles: "user" roles: "root"};  // @HTTP_ACCESS'
        ),
    },
    "HTTP_ACCESS-roles-without-role-level": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            '{level: ACCESS_LEVEL_ROLE roles: "user"};', '{level: ACCESS_LEVEL_PUBLIC roles: "user"};  // @HTTP_ACCESS'
        ),
    },
    "HTTP_ACCESS-role-level-without-roles": {
        "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
            '{level: ACCESS_LEVEL_ROLE roles: "user"};', "{level: ACCESS_LEVEL_ROLE};  // @HTTP_ACCESS"
        ),
    },
    "EVENT_BINDING-topic": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // An item was sold.
            message ItemSold {
              option (courier.options.v1.event) = {topic: "courier.ItemSold" key_field: "item_id"};  // @EVENT_BINDING
              // The item.
              string item_id = 1;
            }
            """
        ),
    },
    "EVENT_BINDING-duplicate-topic": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // An item was sold.
            message ItemSold {
              option (courier.options.v1.event) = {topic: "courier.item-sold.v1" key_field: "item_id"};  // @EVENT_BINDING
              // The item.
              string item_id = 1;
            }
            """
        ),
        "proto/courier/stock/v1/stock.proto": proto(
            "courier.stock.v1",
            """\
            // An item left the stock.
            message ItemRemoved {
              option (courier.options.v1.event) = {  // @EVENT_BINDING
                topic: "courier.item-sold.v1"
                key_field: "item_id"
              };
              // The item.
              string item_id = 1;
            }
            """,
        ),
    },
    "EVENT_BINDING-key-field": {
        "proto/courier/shop/v1/shop.proto": shop(
            """\
            // An item was sold.
            message ItemSold {
              option (courier.options.v1.event) = {topic: "courier.item-sold.v1" key_field: "item_id"};  // @EVENT_BINDING
              // The item, by number.
              int64 item_id = 1;
            }

            // An item was returned.
            message ItemReturned {
              option (courier.options.v1.event) = {topic: "courier.item-returned.v1" key_field: "item.id"};  // @EVENT_BINDING
              // The item.
              Ref item = 1;
            }

            // An item was lost.
            message ItemLost {
              option (courier.options.v1.event) = {topic: "courier.item-lost.v1"};  // @EVENT_BINDING
              // The item.
              string item_id = 1;
            }

            // Names an item.
            message Ref {
              // Its id.
              string id = 1;
            }
            """
        ),
    },
}


def http_case(option: str, request_fields: str = "") -> dict[str, str]:
    """GOOD_SERVICE with the HTTP option replaced by `option`, which carries the @HTTP_RULE marker."""
    text = GOOD_SERVICE.replace(
        '    option (courier.options.v1.http) = {\n      post: "/shop/items/{item_id}"\n      body: "*"\n    };\n',
        f"    {option}\n",
    )
    if request_fields:
        text = text.replace("  string item_id = 1;\n}\n\n// What was bought.", f"  string item_id = 1;\n{request_fields}}}\n\n// What was bought.")
    assert text != GOOD_SERVICE
    return {"proto/courier/shop/v1/shop.proto": text}


HTTP = "option (courier.options.v1.http) = "
ADDRESS = """\
  // Where to send it.
  Address address = 2;
  // Gift wrap.
  repeated string wraps = 3;
}

// A postal address.
message Address {
  // Postal code.
  string zip = 1;
  // The street.
  Street street = 2;
}

// A street.
message Street {
  // Its name.
  string name = 1;
"""

CASES.update(
    {
        "HTTP_RULE-get-with-body": http_case(
            "option idempotency_level = NO_SIDE_EFFECTS;\n    " + HTTP + '{get: "/shop/items/{item_id}" body: "*"};  // @HTTP_RULE'
        ),
        "HTTP_RULE-delete-with-body": http_case(HTTP + '{delete: "/shop/items/{item_id}" body: "*"};  // @HTTP_RULE'),
        "HTTP_RULE-no-leading-slash": http_case(HTTP + '{post: "shop/items/{item_id}" body: "*"};  // @HTTP_RULE'),
        "HTTP_RULE-no-verb": http_case(HTTP + '{body: "*"};  // @HTTP_RULE'),
        "HTTP_RULE-unknown-variable": http_case(HTTP + '{post: "/shop/items/{item}" body: "*"};  // @HTTP_RULE'),
        "HTTP_RULE-message-variable": http_case(HTTP + '{post: "/shop/{address}" body: "*"};  // @HTTP_RULE', ADDRESS),
        "HTTP_RULE-repeated-variable": http_case(HTTP + '{post: "/shop/{wraps}" body: "*"};  // @HTTP_RULE', ADDRESS),
        "HTTP_RULE-nested-message-variable": http_case(
            HTTP + '{post: "/shop/{address.street}" body: "*"};  // @HTTP_RULE', ADDRESS
        ),
        "HTTP_RULE-through-scalar": http_case(HTTP + '{post: "/shop/{item_id.x}" body: "*"};  // @HTTP_RULE'),
        "HTTP_RULE-body-nested-field": http_case(
            HTTP + '{post: "/shop/items/{item_id}" body: "address.zip"};  // @HTTP_RULE', ADDRESS
        ),
        "HTTP_RULE-body-unknown-field": http_case(HTTP + '{post: "/shop/items/{item_id}" body: "payload"};  // @HTTP_RULE'),
        "HTTP_RULE-duplicate-template": {
            "proto/courier/shop/v1/shop.proto": GOOD_SERVICE.replace(
                "option (courier.options.v1.http) = {", "option (courier.options.v1.http) = {  // @HTTP_RULE"
            ),
            "proto/courier/stock/v1/stock.proto": proto(
                "courier.stock.v1",
                """\
                // Keeps the stock.
                service StockService {
                  // Takes an item out of the stock.
                  rpc TakeItem(TakeItemRequest) returns (TakeItemResponse) {
                    option (courier.options.v1.http) = {post: "/shop/items/{sku}" body: "*"};  // @HTTP_RULE
                    option (courier.options.v1.access) = {level: ACCESS_LEVEL_ROLE roles: "admin"};
                  }
                }

                // Which item.
                message TakeItemRequest {
                  // Its stock keeping unit.
                  string sku = 1;
                }

                // Done.
                message TakeItemResponse {}
                """,
            ),
        },
    }
)


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_rule_fires_on_the_marked_lines(tmp_path: Path, case: str) -> None:
    files = CASES[case]
    write_tree(tmp_path, files)
    expected = expected_violations(files)
    rule = case.split("-", 1)[0]
    assert rule in {r for _, _, r in expected}, "the case must mark its own rule"

    result = run_lint(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert reported_violations(result.stdout) == expected, result.stdout
    assert "violation(s)" in result.stderr


def test_every_rule_has_a_case() -> None:
    module = load_module()
    assert {case.split("-", 1)[0] for case in CASES} == set(module.RULES)


def test_output_is_sorted_and_names_the_element(tmp_path: Path) -> None:
    files = CASES["COMMENTS"]
    write_tree(tmp_path, files)
    lines = run_lint(tmp_path).stdout.splitlines()
    keys = [(m["path"], int(m["line"]), int(m["column"]), m["rule"]) for m in map(VIOLATION.match, lines)]
    assert keys == sorted(keys)
    assert 'proto/courier/shop/v1/shop.proto:14:9: COMMENTS: message "courier.shop.v1.BuyItemRequest" has no leading comment' in lines
    assert 'proto/courier/shop/v1/shop.proto:30:3: COMMENTS: enum value "courier.shop.v1.ItemKind.ITEM_KIND_UNSPECIFIED" has no leading comment' in lines


GOOD_TREE = {
    "proto/courier/shop/v1/shop.proto": shop(
        """\
        // Sells items. Every RPC lists the codes it returns.
        service ShopService {
          // Reads one item. NOT_FOUND when there is no such item.
          rpc GetItem(GetItemRequest) returns (GetItemResponse) {
            option idempotency_level = NO_SIDE_EFFECTS;
            option (courier.options.v1.http) = {get: "/shop/items/{item_id}"};
            option (courier.options.v1.access) = {level: ACCESS_LEVEL_PUBLIC};
          }
          // Removes one item (same path, other verb).
          rpc DeleteItem(DeleteItemRequest) returns (DeleteItemResponse) {
            option (courier.options.v1.http) = {delete: "/shop/items/{id}"};
            option (courier.options.v1.access) = {level: ACCESS_LEVEL_ROLE roles: "admin" roles: "deliverer"};
          }
          // Changes where an item goes; the body is one top-level field.
          rpc MoveItem(MoveItemRequest) returns (MoveItemResponse) {
            option (courier.options.v1.http) = {
              patch: "/shop/zones/{address.zip}/streets/{address.street.name}/items/{item_id}"
              body: "note"
            };
            option (courier.options.v1.access) = {level: ACCESS_LEVEL_AUTHENTICATED};
          }
          // Follows an item's changes (server streaming, gRPC only).
          rpc WatchItems(WatchItemsRequest) returns (stream WatchItemsResponse) {
            option idempotency_level = NO_SIDE_EFFECTS;
          }
          // Uploads a batch of items (client streaming, gRPC only, no access rule needed).
          rpc UploadItems(stream UploadItemsRequest) returns (UploadItemsResponse);
        }

        // Which item.
        message GetItemRequest {
          // The item's id.
          string item_id = 1;
        }
        // The item.
        message GetItemResponse {
          // The item.
          Item item = 1;
        }
        // Which item.
        message DeleteItemRequest {
          // The item's id.
          string id = 1;
        }
        // Nothing; the item is gone.
        message DeleteItemResponse {}
        // Where the item goes now.
        message MoveItemRequest {
          // The item's id.
          string item_id = 1;
          // The new address.
          Address address = 2;
          // A note for the deliverer.
          string note = 3;
          // Labels for the parcel.
          map<string, string> labels = 4;
        }
        // The moved item.
        message MoveItemResponse {
          // The item.
          Item item = 1;
        }
        // What to follow.
        message WatchItemsRequest {
          // Only items of this kind; every kind when unset.
          optional Item.Kind kind = 1;
        }
        // One change.
        message WatchItemsResponse {
          // The item as it is now.
          Item item = 1;
        }
        // One item of the batch.
        message UploadItemsRequest {
          // The item.
          Item item = 1;
        }
        // How many were stored.
        message UploadItemsResponse {
          // The count.
          int32 stored = 1;
        }

        // An item for sale.
        message Item {
          // Kinds of item.
          enum Kind {
            // Not set.
            KIND_UNSPECIFIED = 0;
            // Fits a letter box.
            KIND_SMALL = 1;
          }
          // The item's id.
          string id = 1;
          // Its kind.
          Kind kind = 2;
          // How it is paid for.
          oneof payment {
            // A card token.
            string card_token = 3;
            // A voucher code.
            string voucher_code = 4;
          }
        }

        // A postal address.
        message Address {
          // The postal code.
          string zip = 1;
          // The street.
          Street street = 2;
        }

        // A street.
        message Street {
          // Its name.
          string name = 1;
        }

        // The HTTP methods we know; acronyms become one word of the prefix.
        enum HTTPMethod {
          // Not set.
          HTTP_METHOD_UNSPECIFIED = 0;
          // GET.
          HTTP_METHOD_GET = 1;
        }

        // An item was sold.
        message ItemSold {
          option (courier.options.v1.event) = {topic: "courier.item-sold.v1" key_field: "item_id"};

          // The item.
          string item_id = 1;
          // When, in seconds since the epoch.
          int64 sold_at = 2;
        }

        // An item was returned.
        message ItemReturned {
          option (courier.options.v1.event) = {topic: "courier.item-returned.v1" key_field: "item_id"};

          // The item.
          string item_id = 1;
        }
        """
    ),
    # External contracts are exempt: grpc.health shares messages between RPCs and has no comments.
    "proto/grpc/health/v1/health.proto": textwrap.dedent(
        """\
        syntax = "proto3";
        package grpc.health.v1;
        message HealthCheckRequest { string service = 1; }
        message HealthCheckResponse {
          enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
          ServingStatus status = 1;
        }
        service Health {
          rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
          rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
        }
        """
    ),
}


def test_good_tree_passes(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD_TREE)
    result = run_lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().count("\n") == 0
    assert "1 file(s) checked" in result.stdout and "1 exempt" in result.stdout and "no violations" in result.stdout


def test_real_proto_tree_passes() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no violations" in result.stdout


def test_protoc_syntax_error_exits_2_with_protocs_message(tmp_path: Path) -> None:
    write_tree(tmp_path, {"proto/courier/shop/v1/shop.proto": shop("// An item.\nmessage Item {\n  string id = 1\n}\n")})
    result = run_lint(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "protoc failed" in result.stderr
    assert "courier/shop/v1/shop.proto:" in result.stderr and "Expected \";\"" in result.stderr


def test_missing_protoc_exits_2_naming_the_package(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD_TREE)
    result = run_lint(tmp_path, "--protoc", str(tmp_path / "no-such-protoc"))
    assert result.returncode == 2
    assert "protobuf-compiler" in result.stderr


def test_missing_well_known_types_exit_2_naming_the_package(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD_TREE)
    (tmp_path / "empty").mkdir()
    result = run_lint(tmp_path, "--system-include", str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "libprotobuf-dev" in result.stderr and "google/protobuf/descriptor.proto" in result.stderr


def test_rules_lists_every_rule_once() -> None:
    module = load_module()
    result = subprocess.run([sys.executable, str(SCRIPT), "--rules"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == list(module.RULES)
    assert len(listed) == 22


def test_wire_reader_merges_repeated_extensions_and_skips_groups() -> None:
    module = load_module()
    # field 51001 twice (verb, then body), a group (field 9) and a fixed32 (field 10) in between.
    http_key = bytes([0xCA, 0xF3, 0x18])  # (51001 << 3) | 2 as a varint
    first = http_key + bytes([5, 0x0A, 3]) + b"/a/"
    group = bytes([0x4B, 0x08, 0x01, 0x4C])  # start group 9, varint field 1 = 1, end group 9
    fixed = bytes([0x55, 1, 2, 3, 4])
    second = http_key + bytes([3, 0x32, 1]) + b"*"
    merged = module.extension_bytes(first + group + fixed + second, 51001)
    rule = module.decode_http(merged)
    assert (rule.verb, rule.path, rule.body) == ("GET", "/a/", "*")
    assert module.extension_bytes(group + fixed, 51001) is None
    assert module.upper_snake("HTTPMethod") == "HTTP_METHOD"
    assert module.upper_snake("DeliveryPayload2Status") == "DELIVERY_PAYLOAD2_STATUS"
