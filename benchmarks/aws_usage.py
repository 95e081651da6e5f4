"""What AWS bills for a request, worked out the way AWS documents it: pure functions, no I/O.

- DynamoDB item sizes and capacity units, from
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html and
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes: a write is
  1 unit per started KB of the larger of the item before and after (a delete: the item deleted), at
  least 1, twice that in a transaction; a write whose condition fails is still charged, by the size
  of the item as it stands; each global secondary index the write touches is charged on top (a put or
  a delete of the index entry, two writes when the write changes the entry's key); a read is 1 unit
  per started 4 KB strongly consistent, half that eventually consistent, a query by the total size
  of the items it read.
- SQS and EventBridge bill each 64 KB chunk of a payload as one request or event; API Gateway's HTTP
  APIs meter requests in 512 KB increments.
- A request's service comes from its SigV4 credential scope, its operation from ``X-Amz-Target``, the
  ``Action`` form field, or (S3) the method, path and query.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from benchmarks.aws_prices import PRICES, SERVICES, Price

KB = 1024
#: SQS requests and EventBridge events are billed per 64 KB chunk of payload.
CHUNK = 64 * KB
#: HTTP API requests are metered in 512 KB increments.
API_INCREMENT = 512 * KB
#: Every DynamoDB item carries 100 bytes of storage overhead (for indexing), in the table and in each
#: index entry (CapacityUnitCalculations.html).
STORAGE_OVERHEAD_BYTES = 100
GB = 1024**3

Item = Mapping[str, Mapping[str, Any]]


# -- DynamoDB item sizes ------------------------------------------------------------------------------
def number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeros are trimmed)."""
    digits = re.sub(r"[^0-9]", "", text.lower().split("e")[0]).strip("0")
    return (max(len(digits), 1) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one typed attribute value (``{"S": "x"}``), its name not included."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return len(content) if isinstance(content, bytes) else len(content) * 3 // 4  # base64 on the wire
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(element).encode()) for element in content)
    if kind == "NS":
        return sum(number_size(str(element)) for element in content)
    if kind == "BS":
        return sum(value_size({"B": element}) for element in content)
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in content)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(element) + 1 for name, element in content.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Item | None) -> int:
    """The sum of the attributes' name and value sizes; 0 for no item."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size_bytes: int, *, transactional: bool = False) -> int:
    units = max(1, math.ceil(size_bytes / KB))
    return 2 * units if transactional else units


def read_units(size_bytes: int, *, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size_bytes / (4 * KB)))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    table_keys: tuple[str, ...]
    projection: str = "ALL"
    included: tuple[str, ...] = ()

    def entry(self, item: Item | None) -> dict[str, Any] | None:
        """The item as this index holds it, or None when the item is not in it (sparse)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = {*self.keys, *self.table_keys, *(self.included if self.projection == "INCLUDE" else ())}
        return {name: value for name, value in item.items() if name in kept}

    def writes(self, before: Item | None, after: Item | None) -> list[int]:
        """The size of each write this index takes when the item goes from ``before`` to ``after``."""
        old, new = self.entry(before), self.entry(after)
        if old is None and new is None:
            return []
        if old is None or new is None:
            return [item_size(old or new)]
        if any(old[key] != new[key] for key in self.keys):
            return [item_size(old), item_size(new)]  # a delete from the old key, a put at the new
        return [] if old == new else [max(item_size(old), item_size(new))]


@dataclass(frozen=True)
class TableSpec:
    keys: tuple[str, ...]
    indexes: tuple[IndexSpec, ...] = ()

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableSpec:
        """From DescribeTable's ``Table``."""
        keys = tuple(key["AttributeName"] for key in table["KeySchema"])
        indexes = tuple(
            IndexSpec(
                name=index["IndexName"],
                keys=tuple(key["AttributeName"] for key in index["KeySchema"]),
                table_keys=keys,
                projection=index.get("Projection", {}).get("ProjectionType", "ALL"),
                included=tuple(index.get("Projection", {}).get("NonKeyAttributes", ())),
            )
            for index in table.get("GlobalSecondaryIndexes", ())
        )
        return cls(keys=keys, indexes=indexes)

    def key_of(self, item: Item) -> dict[str, Any]:
        return {name: item[name] for name in self.keys}

    def stored_bytes(self, item: Item | None) -> int:
        """What the item takes in the table and its indexes, with each copy's 100 bytes of overhead."""
        if not item:
            return 0
        entries = [item, *(entry for index in self.indexes if (entry := index.entry(item)) is not None)]
        return sum(item_size(entry) + STORAGE_OVERHEAD_BYTES for entry in entries)


def item_write_units(
    table: TableSpec,
    before: Item | None,
    after: Item | None,
    *,
    delete: bool = False,
    succeeded: bool = True,
    transactional: bool = False,
) -> int:
    """The write request units of one item's put, update or delete (``delete``), with its indexes'."""
    if not succeeded:  # the condition failed: charged by the item as it stands, no index touched
        return write_units(item_size(before), transactional=transactional)
    size = item_size(before) if delete else max(item_size(before), item_size(after))
    units = write_units(size, transactional=transactional)
    stored_after = None if delete else after
    return units + sum(write_units(s) for index in table.indexes for s in index.writes(before, stored_after))


def query_read_units(items: Iterable[Item], *, consistent: bool) -> float:
    """A Query or Scan: the items' total size, rounded up to 4 KB once."""
    return read_units(sum(item_size(item) for item in items), consistent=consistent)


# -- classifying requests -----------------------------------------------------------------------------
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def service_of(headers: Mapping[str, str], query: str = "") -> str:
    """The SigV4 credential scope's service (``dynamodb``, ``sqs``, ``s3``, ``events``, ...), from the
    Authorization header or a presigned URL's X-Amz-Credential; "unknown" without either."""
    found = _SCOPE.search(_header(headers, "authorization"))
    if found:
        return found.group(1)
    credential = parse_qs(query).get("X-Amz-Credential", [""])[0]
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else "unknown"


def operation_of(
    service: str, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> str:
    """The API operation: X-Amz-Target's, the query protocol's Action, or S3's from the request line."""
    target = _header(headers, "x-amz-target")
    if target:
        return target.rpartition(".")[2]
    if service == "s3":
        return s3_operation(method, path, query, headers)
    form = parse_qs(body.decode(errors="replace")) if body else {}
    action = form.get("Action") or parse_qs(query).get("Action")
    return action[0] if action else f"{method} {path}"


def s3_operation(method: str, path: str, query: str, headers: Mapping[str, str]) -> str:
    """Path-style S3 requests (``/bucket`` or ``/bucket/key``) by method and sub-resource."""
    params = parse_qs(query, keep_blank_values=True)
    has_key = len([part for part in path.split("/") if part]) > 1
    if method == "PUT":
        if "partNumber" in params and "uploadId" in params:
            return "UploadPartCopy" if _header(headers, "x-amz-copy-source") else "UploadPart"
        if not has_key:
            return "CreateBucket" if not params else f"PutBucket{next(iter(params)).capitalize()}"
        return "CopyObject" if _header(headers, "x-amz-copy-source") else "PutObject"
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload"
        if "uploadId" in params:
            return "CompleteMultipartUpload"
        return "DeleteObjects" if "delete" in params else "PostObject"
    if method == "GET":
        if not has_key:
            return "ListObjectsV2" if params.get("list-type") == ["2"] else "ListObjects"
        return "ListParts" if "uploadId" in params else "GetObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in params else "DeleteObject"
    return f"{method} {path}"


#: S3 operations billed at the PUT, COPY, POST, LIST rate; DELETE and abort are free; the rest at GET's.
S3_WRITE_TIER = frozenset(
    {
        "PutObject",
        "CopyObject",
        "PostObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "ListObjects",
        "ListObjectsV2",
        "ListParts",
        "CreateBucket",
    }
)
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


def chunks(size_bytes: int, chunk: int = CHUNK) -> int:
    """How many billed units a payload of ``size_bytes`` is: one per started chunk, at least one."""
    return max(1, math.ceil(size_bytes / chunk))


def sqs_payload_bytes(message: Mapping[str, Any]) -> int:
    """A message's body and its attributes' names, types and values (what SQS counts as payload)."""
    size = len(str(message.get("MessageBody", "")).encode())
    for name, attribute in (message.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        value = attribute.get("StringValue", attribute.get("BinaryValue", ""))
        size += len(value.encode() if isinstance(value, str) else value)
    return size


def sqs_requests(operation: str, request: Mapping[str, Any]) -> int:
    """The billed requests of one SQS call made with the JSON protocol."""
    if operation == "SendMessage":
        return chunks(sqs_payload_bytes(request))
    if operation == "SendMessageBatch":
        return chunks(sum(sqs_payload_bytes(entry) for entry in request.get("Entries", [])))
    return 1


def event_entry_bytes(entry: Mapping[str, Any]) -> int:
    """PutEvents' size of one entry: Time 14 bytes if set, Source, DetailType and Detail in UTF-8,
    each resource's ARN (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html)."""
    size = 14 if entry.get("Time") else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name, "")).encode())
    return size + sum(len(str(arn).encode()) for arn in entry.get("Resources", []))


def eventbridge_events(request: Mapping[str, Any]) -> int:
    """The billed events of one PutEvents call: each entry's 64 KB chunks."""
    return sum(chunks(event_entry_bytes(entry)) for entry in request.get("Entries", []))


# -- usage and its price ------------------------------------------------------------------------------
@dataclass
class Usage:
    """Billed quantities by dimension (the keys of ``aws_prices.PRICES``)."""

    quantities: Counter[str] = field(default_factory=Counter)

    def add(self, dimension: str, quantity: float) -> None:
        if dimension not in PRICES:
            raise KeyError(f"no price for {dimension}")
        self.quantities[dimension] += quantity  # type: ignore[assignment]

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.quantities + other.quantities)

    def with_quantity(self, dimension: str, quantity: float) -> Usage:
        """A copy with ``dimension`` set to ``quantity``."""
        copied = Usage(Counter(self.quantities))
        copied.quantities[dimension] = 0
        copied.add(dimension, quantity)
        return copied

    def cost_usd(self, prices: Mapping[str, Price] = PRICES) -> Decimal:
        return sum((self.cost_of(dimension, prices) for dimension in self.quantities), Decimal(0))

    def cost_of(self, dimension: str, prices: Mapping[str, Price] = PRICES) -> Decimal:
        return Decimal(str(self.quantities[dimension])) * prices[dimension].usd_per_unit

    def by_service(self, prices: Mapping[str, Price] = PRICES) -> dict[str, Decimal]:
        costs: dict[str, Decimal] = {}
        for dimension in self.quantities:
            service = SERVICES[dimension]
            costs[service] = costs.get(service, Decimal(0)) + self.cost_of(dimension, prices)
        return costs


def lambda_gb_seconds(seconds: float, memory_mb: int) -> float:
    """One invocation's billed GB-s: its duration rounded up to the millisecond, times its memory."""
    return math.ceil(seconds * 1000) / 1000 * memory_mb / 1024


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
