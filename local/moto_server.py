"""The moto server the local stack and the integration tests run, in a process of its own, with
DynamoDB's atomicity.

DynamoDB applies each request to an item atomically: of two conditional writes racing on one item,
exactly one can win. moto's server handles requests on threads and checks a condition and then
writes, so two racers can both win (seen here: 2 of 20 races of 8 writers). The pacing slots, the
create rate, the job state machine and the outbox all rest on that guarantee, so DynamoDB requests
are handled one at a time here, as one partition would order them.

It also cuts a few of moto's costs that grow with the data a load leaves behind (each explained where
it is done): whole-table backups for every transaction, every item answer walked through botocore's
shapes, every receive counting its queue, every Query of a table's key sorting the whole table, and a
JSONPath grammar built for every event an input transformer delivers. Under `make load` they were
most of moto's time, and moto was the stack's bottleneck.

`MotoProcess` runs ``python -m local.moto_server HOST PORT``: a fresh interpreter that applies that
patch, starts the server and writes its port on stdout. It serves until its stdin ends (the process
that started it closes it, or is gone), on SIGTERM, or once that process is gone however it went.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
import threading
from typing import Any

from local.template import ROOT

_one_at_a_time = threading.Lock()
#: How long moto may take to import and bind its port.
START_TIMEOUT_SECONDS = 60


def _dispatch_without_scanning() -> None:
    """moto's server finds the service of every request under one lock, and on the way lists its own
    package's folders (a listdir and ~150 stats) once or twice, then tries every service's URL
    pattern: several milliseconds per request, one request at a time, whatever the service. Both
    answers never change while it runs: the folders are listed once, and the service of a host kept."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication.get_backend_for_host, "cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    found = functools.lru_cache(maxsize=1024)(DomainDispatcherApplication.get_backend_for_host)
    found.cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = found  # type: ignore[method-assign]


def _serialize_dynamodb_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "one_at_a_time", False):
        return

    @functools.wraps(original)
    def call_action(self: DynamoHandler) -> Any:
        with _one_at_a_time:
            return original(self)

    call_action.one_at_a_time = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _transactions_back_up_their_items() -> None:
    """moto backs up every table a TransactWriteItems names, whole (a deepcopy of every item), to roll
    back a canceled transaction: each transaction cost time in proportion to the table, and a 1,000-job
    load spent more of moto's time copying the jobs table than doing anything else. With DynamoDB's
    requests handled one at a time (above), backing up the items the transaction names is the same
    rollback: those are the only items it can change."""
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "backs_up_items", False):
        return

    class _TablesKept:
        """What moto's module sees as ``copy``: a table is "copied" as itself, all else deep-copied."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = _TablesKept  # type: ignore[attr-defined]

    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items[:100]:
            try:
                op_type, op = next(iter(entry.items()))
                table = self.get_table(op["TableName"])
                key = op["Item"] if op_type == "Put" else op["Key"]
                hash_value, range_value = self.get_keys_value(table, key)
            except Exception:  # noqa: BLE001, S112 - moto's own code answers a malformed entry
                continue
            item = table.get_item(hash_value, range_value)
            backups.append((table, hash_value, range_value, copy.deepcopy(item)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(backups):
                if item is None:
                    table.delete_item(hash_value, range_value)
                elif range_value is not None:
                    table.items[hash_value][range_value] = item
                else:
                    table.items[hash_value] = item
            raise

    transact_write_items.backs_up_items = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


#: DynamoDB's answers that carry items, already in DynamoDB's JSON: `_items_answered_as_json`.
_ITEM_ANSWERS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
)


def _items_answered_as_json() -> None:
    """moto 5.2 walks every answer through botocore's output shape, attribute by attribute: for the
    job items here about a sixth of moto's time under load. The item-bearing answers of DynamoDB are
    already the wire's JSON, so they are written as they are; an answer json cannot write (bytes, a
    timestamp) takes moto's own way."""
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result
    if getattr(original, "as_json", False):
        return

    @functools.wraps(original)
    def execute_result(self: DynamoResult, context: Any) -> Any:
        if context.operation_model.name not in _ITEM_ANSWERS or not isinstance(self.result, dict):
            return original(self, context)
        try:
            body = json.dumps({key: value for key, value in self.result.items() if value is not None})
        except (TypeError, ValueError):
            return original(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    execute_result.as_json = True  # type: ignore[attr-defined]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def _receives_without_counting() -> None:
    """moto checks each message a ReceiveMessage returns against its queue's retention by computing
    every attribute of the queue, the approximate counts included (a walk of all its messages): with
    a thousand delayed status checks in a queue, the dearest part of a receive. The retention period
    alone is the same answer."""
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def is_message_valid_based_on_retention_period(
        self: SQSBackend, queue_name: str, message: Message
    ) -> bool:
        retention_seconds = int(self.get_queue(queue_name).message_retention_period)
        return retention_seconds + message.sent_timestamp / 1000 > unix_time()  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


def _queries_read_their_partition() -> None:
    """moto answers a Query of a table's own key by sorting every item of the table and keeping those
    of the partition asked for: each release of a pacing slot (a Query of its provider's line) cost
    time in proportion to the whole limits table. The partition's items are the same answer, read
    from the partition itself; an index's Query keeps moto's way."""
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    if getattr(original_query, "by_partition", False):
        return
    original_all_items = Table.all_items
    partition_read: dict[int, Any] = {}  # table id -> the hash key its Query in progress reads

    @functools.wraps(original_query)
    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        partition_read[id(self)] = hash_key
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            partition_read.pop(id(self), None)

    def all_items(self: Table) -> list[Any]:
        if id(self) not in partition_read:
            return original_all_items(self)
        found = self.items.get(partition_read[id(self)])
        if found is None:
            return []
        return sorted(found.values(), key=lambda item: item.range_key) if self.range_key_attr else [found]

    query.by_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


def _input_paths_parsed_once() -> None:
    """moto builds a JSONPath parser (its grammar tables included) for every input path of every
    event a rule with an input transformer delivers; the paths never change, so each is parsed once."""
    import jsonpath_ng.ext

    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


class MotoProcess:
    """A moto server on ``host``:``port`` (0: any free port) in a process of its own, not yet started;
    ``with`` starts and stops it."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoProcess:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local.moto_server", self._host, str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        line = _read_line(self._process.stdout, START_TIMEOUT_SECONDS)
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the moto server did not start: {line!r}")
        self._port = int(line)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def get_host_and_port(self) -> tuple[str, int]:
        return self._host, self._port

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self._port}"

    def __enter__(self) -> MotoProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _read_line(stream: Any, timeout: float) -> str:
    found: list[bytes] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0].decode() if found else ""


def moto_server(host: str, port: int) -> MotoProcess:
    """A moto server on ``host``:``port`` (0: any free port), not yet started."""
    return MotoProcess(host, port)


def main() -> None:
    import faulthandler
    import logging
    import os
    import signal

    from moto.server import ThreadedMotoServer

    from local.container import exit_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the stack, which stops us
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: where each thread is
    exit_with_parent()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _serialize_dynamodb_requests()
    _transactions_back_up_their_items()
    _items_answered_as_json()
    _receives_without_counting()
    _queries_read_their_partition()
    _input_paths_parsed_once()
    _dispatch_without_scanning()
    host, port = sys.argv[1], int(sys.argv[2])
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.buffer.read()  # until the stack closes it, or is gone
    os._exit(0)


if __name__ == "__main__":
    main()
