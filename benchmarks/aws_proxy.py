"""A counting HTTP proxy between the functions and moto: every AWS request the functions make, priced.

Started before the local stack, whose functions are pointed at it (``AWS_ENDPOINT_URL``), and given
moto's address once moto has started (`MeteringProxy.set_upstream`); requests that come before then
wait for it. It binds 127.0.0.1. Each request is classified by `aws_usage` (service from the SigV4
scope, operation from X-Amz-Target, the Action field or S3's request line) and its billed quantities
recorded as an `AwsCall`.

DynamoDB's write units depend on the item before and after the write, which neither the request nor
the response carries: for each write the proxy reads the item straight from moto (not counted) before
and after forwarding it, with DynamoDB requests through the proxy taken one at a time so that nothing
lands between the three. moto handles DynamoDB requests one at a time anyway (local/moto_server.py).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from benchmarks.aws_usage import (
    S3_FREE,
    S3_WRITE_TIER,
    Item,
    TableSpec,
    Usage,
    eventbridge_events,
    item_size,
    item_write_units,
    operation_of,
    query_read_units,
    read_units,
    service_of,
    sqs_requests,
    write_units,
)

HOST = "127.0.0.1"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_SINGLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


@dataclass(frozen=True)
class AwsCall:
    service: str
    operation: str
    status: int
    request_bytes: int
    response_bytes: int
    usage: Usage = field(default_factory=Usage)
    #: Bytes an S3 PUT or part stored.
    stored_bytes: int = 0
    #: Why the figure is not exact, or why it is not priced; empty when it is both.
    note: str = ""


@dataclass(frozen=True)
class _Forwarded:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MeteringProxy:
    def __init__(self, *, port: int = 0, upstream_wait_seconds: float = 60) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._serve(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _any  # noqa: N815

        self._server = ThreadingHTTPServer((HOST, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metering-proxy", daemon=True)
        self._upstream: tuple[str, int] | None = None
        self._upstream_url = ""
        self._ready = threading.Event()
        self._wait = upstream_wait_seconds
        self._calls: list[AwsCall] = []
        self._lock = threading.Lock()
        self._dynamodb_lock = threading.Lock()
        self._tables: dict[str, TableSpec] = {}
        self._direct: Any = None

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://{HOST}:{port}"

    def start(self) -> MeteringProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> MeteringProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def set_upstream(self, url: str) -> None:
        from local.aws import aws_client

        parts = urlsplit(url)
        self._upstream = (parts.hostname or HOST, parts.port or 80)
        self._upstream_url = url
        self._direct = aws_client("dynamodb", url)  # item images, not counted
        self._ready.set()

    def take(self) -> list[AwsCall]:
        """The calls since the last take, oldest first."""
        with self._lock:
            taken, self._calls = self._calls, []
        return taken

    def table(self, name: str) -> TableSpec:
        if name not in self._tables:
            self._tables[name] = TableSpec.from_description(
                self._direct.describe_table(TableName=name)["Table"]
            )
        return self._tables[name]

    # -- one request -----------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        headers = {key: value for key, value in handler.headers.items()}
        path, _, query = handler.path.partition("?")
        service = service_of(headers, query)
        operation = operation_of(service, handler.command, path, query, headers, body)
        if not self._ready.wait(self._wait):
            handler.send_error(502, "the metering proxy has no upstream")
            return
        if service == "dynamodb":
            forwarded, call = self._dynamodb(handler.command, handler.path, headers, body, operation)
        else:
            forwarded = self._forward(handler.command, handler.path, headers, body)
            call = _priced(service, operation, handler.command, headers, body, forwarded)
        with self._lock:
            self._calls.append(call)
        handler.send_response(forwarded.status)
        for key, value in forwarded.headers:
            handler.send_header(key, value)
        if handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(forwarded.body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(forwarded.body)

    def _forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> _Forwarded:
        if self._upstream is None:
            raise RuntimeError("no upstream")
        connection = http.client.HTTPConnection(*self._upstream, timeout=120)
        try:
            sent = {
                k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP | {"host", "content-length"}
            }
            sent["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            kept = {"content-length"} if method != "HEAD" else set()
            returned = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | kept]
            return _Forwarded(response.status, returned, data)
        finally:
            connection.close()

    # -- DynamoDB: capacity units need the item before and after ---------------------------------------
    def _dynamodb(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, operation: str
    ) -> tuple[_Forwarded, AwsCall]:
        request: dict[str, Any] = json.loads(body or b"{}")
        usage, note = Usage(), ""
        with self._dynamodb_lock:
            if operation in _SINGLE_WRITES:
                table = self.table(request["TableName"])
                key = request["Item"] if operation == "PutItem" else request["Key"]
                key = table.key_of(key)
                before = self._item(request["TableName"], key)
                forwarded = self._forward(method, path, headers, body)
                after = self._item(request["TableName"], key)
                outcome = _write_outcome(forwarded)
                if outcome is not None:
                    usage.add(
                        "dynamodb_wru",
                        item_write_units(
                            table, before, after, delete=operation == "DeleteItem", succeeded=outcome
                        ),
                    )
            elif operation == "TransactWriteItems":
                actions = [self._action(entry) for entry in request["TransactItems"]]
                befores = [self._item(name, key) for _, name, key in actions]
                forwarded = self._forward(method, path, headers, body)
                afters = [self._item(name, key) for _, name, key in actions]
                outcome = _write_outcome(forwarded, cancelled="TransactionCanceledException")
                if outcome is not None:
                    for (kind, name, _), before, after in zip(actions, befores, afters, strict=True):
                        usage.add(
                            "dynamodb_wru", _transact_units(self.table(name), kind, before, after, outcome)
                        )
                if any(self.table(name).indexes for _, name, _ in actions):
                    note = "transaction: index writes priced as standard writes"
            elif operation == "GetItem" and "ProjectionExpression" in request:
                forwarded = self._forward(method, path, headers, body)
                whole = self._item(request["TableName"], request["Key"])
                usage.add("dynamodb_rru", read_units(item_size(whole), consistent=_consistent(request)))
            else:
                forwarded = self._forward(method, path, headers, body)
                note = self._reads(operation, request, forwarded, usage)
        call = AwsCall(
            "dynamodb", operation, forwarded.status, len(body), len(forwarded.body), usage, note=note
        )
        return forwarded, call

    def _reads(self, operation: str, request: Mapping[str, Any], forwarded: _Forwarded, usage: Usage) -> str:
        if forwarded.status != 200:
            return ""
        response = json.loads(forwarded.body or b"{}")
        consistent = _consistent(request)
        if operation == "GetItem":
            usage.add("dynamodb_rru", read_units(item_size(response.get("Item")), consistent=consistent))
        elif operation in ("Query", "Scan"):
            usage.add("dynamodb_rru", query_read_units(response.get("Items", []), consistent=consistent))
            if "FilterExpression" in request or "ProjectionExpression" in request:
                return "sized from the items returned: a filter or projection makes it a lower bound"
        elif operation in ("BatchGetItem", "BatchWriteItem", "TransactGetItems", "ExecuteStatement"):
            return "not priced"
        return ""

    def _action(self, entry: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        ((kind, action),) = entry.items()
        table = self.table(action["TableName"])
        return kind, action["TableName"], table.key_of(action["Item"] if kind == "Put" else action["Key"])

    def _item(self, table: str, key: Mapping[str, Any]) -> Item | None:
        found: Item | None = self._direct.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get(
            "Item"
        )
        return found


def _transact_units(
    table: TableSpec, kind: str, before: Item | None, after: Item | None, succeeded: bool
) -> int:
    if kind == "ConditionCheck" or not succeeded:
        return write_units(item_size(before), transactional=True)
    units = item_write_units(table, before, after, delete=kind == "Delete", transactional=True)
    return units


def _write_outcome(
    forwarded: _Forwarded, *, cancelled: str = "ConditionalCheckFailedException"
) -> bool | None:
    """True: written; False: refused by a condition (still charged); None: not charged (an error)."""
    if forwarded.status == 200:
        return True
    return False if cancelled.encode() in forwarded.body else None


def _consistent(request: Mapping[str, Any]) -> bool:
    return bool(request.get("ConsistentRead", False))


def _priced(
    service: str, operation: str, method: str, headers: Mapping[str, str], body: bytes, forwarded: _Forwarded
) -> AwsCall:
    usage, stored, note = Usage(), 0, ""
    if service == "sqs":
        request = _json_or_form(body)
        usage.add("sqs_requests", sqs_requests(operation, request))
    elif service == "events":
        if operation == "PutEvents":
            usage.add("eventbridge_events", eventbridge_events(_json_or_form(body)))
        else:
            note = "not priced (control plane)"
    elif service == "s3":
        if operation in S3_WRITE_TIER:
            usage.add("s3_write_requests", 1)
        elif operation not in S3_FREE:
            usage.add("s3_read_requests", 1)
        if forwarded.status == 200 and operation in ("PutObject", "UploadPart"):
            decoded = {k.lower(): v for k, v in headers.items()}.get("x-amz-decoded-content-length")
            stored = int(decoded) if decoded else len(body)
    elif service == "secretsmanager":
        usage.add("secrets_calls", 1)
    else:
        note = "not priced"
    return AwsCall(service, operation, forwarded.status, len(body), len(forwarded.body), usage, stored, note)


def _json_or_form(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    except ValueError:
        from urllib.parse import parse_qs

        return {name: values[0] for name, values in parse_qs(body.decode(errors="replace")).items()}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        pieces: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(pieces)
            pieces.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
