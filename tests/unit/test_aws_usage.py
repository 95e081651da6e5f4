"""The AWS cost bench's arithmetic: DynamoDB item sizes and capacity units, request classification,
SQS/EventBridge/API chunks, and pricing (benchmarks/aws_usage.py, aws_cost.py, aws_prices.py)."""

from decimal import Decimal

import pytest

from benchmarks.aws_cost import invocation_usage, job_bill, provider_price_usd
from benchmarks.aws_prices import PRICES, SERVICES
from benchmarks.aws_proxy import AwsCall
from benchmarks.aws_usage import (
    GB,
    IndexSpec,
    TableSpec,
    Usage,
    chunks,
    event_entry_bytes,
    eventbridge_events,
    item_size,
    item_write_units,
    lambda_gb_seconds,
    number_size,
    operation_of,
    query_read_units,
    read_units,
    s3_operation,
    service_of,
    sqs_requests,
    write_units,
)

JOBS = TableSpec(
    keys=("job_id",),
    indexes=(
        IndexSpec("ByStatus", keys=("status", "created"), table_keys=("job_id",)),
        IndexSpec("ByClient", keys=("client", "created"), table_keys=("job_id",)),
        IndexSpec("StatusKeys", keys=("status",), table_keys=("job_id",), projection="KEYS_ONLY"),
    ),
)


def job(status: str, *, padding: int = 0, **more: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        "job_id": {"S": "j1"},
        "status": {"S": status},
        "created": {"N": "17"},
        "pad": {"S": "x" * padding},
        **more,
    }


# -- item sizes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "size"),
    [("0", 2), ("7", 2), ("12", 2), ("123", 3), ("-1200", 2), ("0.0012", 2), ("1234567", 5), ("1E+5", 2)],
)
def test_a_number_takes_a_byte_per_two_significant_digits_and_one_more(number: str, size: int) -> None:
    assert number_size(number) == size


def test_an_item_is_its_names_and_values_with_list_and_map_overheads() -> None:
    item = {
        "id": {"S": "abc"},  # 2 + 3
        "n": {"N": "12345"},  # 1 + 4
        "ok": {"BOOL": True},  # 2 + 1
        "l": {"L": [{"S": "ab"}, {"NULL": True}]},  # 1 + 3 + (2 + 1) + (1 + 1)
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
        "é": {"S": "é"},  # 2 + 2: UTF-8
    }
    assert item_size(item) == 5 + 5 + 3 + 9 + 7 + 4


def test_no_item_has_no_size() -> None:
    assert item_size(None) == 0


# -- capacity units ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (3000, 3)])
def test_a_write_is_a_unit_per_started_kilobyte_and_at_least_one(size: int, units: int) -> None:
    assert write_units(size) == units
    assert write_units(size, transactional=True) == 2 * units


@pytest.mark.parametrize(
    ("size", "strong", "eventual"), [(0, 1, 0.5), (4096, 1, 0.5), (4097, 2, 1.0), (10_000, 3, 1.5)]
)
def test_a_read_is_a_unit_per_started_4_kb_half_when_eventually_consistent(
    size: int, strong: float, eventual: float
) -> None:
    assert read_units(size, consistent=True) == strong
    assert read_units(size, consistent=False) == eventual
    assert read_units(size, consistent=True, transactional=True) == 2 * strong


def test_a_query_is_priced_by_the_total_size_of_the_items_it_read_rounded_once() -> None:
    items = [{"k": {"S": "x" * 1499}}] * 3  # 1500 bytes each: 4500 in all, 2 units (not 3)
    assert query_read_units(items, consistent=True) == 2
    assert query_read_units([], consistent=False) == 0.5


def test_a_new_item_writes_the_table_and_each_index_it_has_the_keys_of() -> None:
    after = job("queued")  # no "client": not in the sparse ByClient index
    assert item_write_units(JOBS, None, after) == 1 + 1 + 1  # table, ByStatus, StatusKeys


def test_changing_an_index_key_deletes_the_old_entry_and_puts_the_new() -> None:
    before, after = job("queued"), job("running")
    assert item_write_units(JOBS, before, after) == 1 + 2 + 2


def test_changing_a_projected_attribute_writes_an_all_index_once_and_a_keys_only_index_not_at_all() -> None:
    before, after = job("queued"), job("queued", padding=10)
    assert item_write_units(JOBS, before, after) == 1 + 1


def test_a_write_that_changes_nothing_touches_no_index() -> None:
    assert item_write_units(JOBS, job("queued"), job("queued")) == 1


def test_an_update_is_priced_by_the_larger_of_the_item_before_and_after() -> None:
    before, after = job("queued", padding=3000), job("queued", padding=10)
    assert item_write_units(JOBS, before, after) == 3 + 3  # the table (3 KB before), ByStatus (3 KB)


def test_a_delete_is_priced_by_the_item_deleted_and_removes_its_index_entries() -> None:
    before = job("queued", padding=2000)
    assert item_write_units(JOBS, before, None, delete=True) == 2 + 2 + 1


def test_a_refused_condition_is_charged_by_the_item_as_it_stands_without_indexes() -> None:
    before = job("queued", padding=2000)
    assert item_write_units(JOBS, before, before, succeeded=False) == 2
    assert item_write_units(JOBS, None, None, succeeded=False) == 1
    assert item_write_units(JOBS, before, before, succeeded=False, transactional=True) == 4


def test_a_table_is_read_from_describe_table() -> None:
    table = TableSpec.from_description(
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "I",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]},
                }
            ],
        }
    )
    item = {"pk": {"S": "p"}, "sk": {"S": "s"}, "g": {"S": "g"}, "a": {"S": "a"}, "b": {"S": "b"}}
    assert table.key_of(item) == {"pk": {"S": "p"}, "sk": {"S": "s"}}
    assert table.indexes[0].entry(item) == {
        "pk": {"S": "p"},
        "sk": {"S": "s"},
        "g": {"S": "g"},
        "a": {"S": "a"},
    }


def test_storage_counts_each_copy_of_an_item_with_its_100_bytes_of_overhead() -> None:
    item = job("queued")  # job_id 6 + 2, status 6 + 6, created 7 + 2, pad 3 + 0
    assert item_size(item) == 32
    assert JOBS.stored_bytes(item) == (32 + 100) * 2 + (
        item_size({"status": {"S": "queued"}, "job_id": {"S": "j1"}}) + 100
    )


# -- requests ------------------------------------------------------------------------------------------
def test_the_service_is_the_sigv4_scope_of_the_authorization_header_or_presigned_url() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host"
    assert service_of({"Authorization": auth}) == "dynamodb"
    assert service_of({}, "X-Amz-Credential=testing%2F20261207%2Fus-east-1%2Fs3%2Faws4_request") == "s3"
    assert service_of({}) == "unknown"


def test_the_operation_is_the_target_the_action_or_s3s_request_line() -> None:
    assert (
        operation_of("dynamodb", "POST", "/", "", {"X-Amz-Target": "DynamoDB_20120810.UpdateItem"}, b"")
        == "UpdateItem"
    )
    assert operation_of("sqs", "POST", "/", "", {}, b"Action=SendMessage&MessageBody=x") == "SendMessage"
    assert operation_of("s3", "PUT", "/bucket/key", "", {}, b"") == "PutObject"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("POST", "/b/videos/v.mp4", "uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/b/videos/v.mp4", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("POST", "/b/videos/v.mp4", "uploadId=u", {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/videos/v.mp4", "uploadId=u", {}, "AbortMultipartUpload"),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "/b/o"}, "CopyObject"),
        ("GET", "/b", "list-type=2&prefix=x", {}, "ListObjectsV2"),
        ("GET", "/b/k", "", {}, "GetObject"),
        ("HEAD", "/b/k", "", {}, "HeadObject"),
        ("DELETE", "/b/k", "", {}, "DeleteObject"),
    ],
)
def test_s3_operations_from_method_path_and_query(
    method: str, path: str, query: str, headers: dict[str, str], operation: str
) -> None:
    assert s3_operation(method, path, query, headers) == operation


@pytest.mark.parametrize(("size", "billed"), [(0, 1), (65_536, 1), (65_537, 2), (262_144, 4)])
def test_a_payload_is_billed_per_started_64_kb_chunk(size: int, billed: int) -> None:
    assert chunks(size) == billed


def test_an_sqs_send_counts_its_body_and_attributes_a_batch_its_total() -> None:
    message = {
        "MessageBody": "x" * 65_530,
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "ab"}},
    }
    assert sqs_requests("SendMessage", message) == 2  # 65,530 + 4 + 6 + 2 > 64 KB
    assert sqs_requests("SendMessageBatch", {"Entries": [{"MessageBody": "x" * 40_000}] * 2}) == 2
    assert sqs_requests("DeleteMessage", {}) == 1


def test_an_event_is_billed_per_entry_by_its_source_type_detail_and_time() -> None:
    entry = {"Source": "s", "DetailType": "dt", "Detail": "{}", "Time": "2026-12-07T00:00:00Z"}
    assert event_entry_bytes(entry) == 14 + 1 + 2 + 2
    big = {"Source": "s", "DetailType": "d", "Detail": "x" * 70_000}
    assert eventbridge_events({"Entries": [entry, big]}) == 1 + 2


# -- an invocation and a job ---------------------------------------------------------------------------
def test_lambda_bills_each_invocation_to_the_next_millisecond_at_its_memory() -> None:
    assert lambda_gb_seconds(0.1001, 1024) == pytest.approx(0.101)
    assert lambda_gb_seconds(0.5, 512) == pytest.approx(0.25)


def test_an_sqs_invocation_bills_the_batchs_receive_and_the_delete_of_its_successes() -> None:
    event = {"Records": [{"eventSource": "aws:sqs", "body": "x", "messageId": "m"}]}
    usage = invocation_usage(event, {"batchItemFailures": []}, seconds=0.2, memory_mb=512)
    assert usage.quantities["sqs_requests"] == 2
    assert usage.quantities["lambda_requests"] == 1
    failed = invocation_usage(
        event, {"batchItemFailures": [{"itemIdentifier": "m"}]}, seconds=0.2, memory_mb=512
    )
    assert failed.quantities["sqs_requests"] == 1  # received, left to come back
    raised = invocation_usage(event, None, seconds=0.2, memory_mb=512, raised=True)
    assert raised.quantities["sqs_requests"] == 1


def test_an_api_invocation_bills_one_http_api_request_per_512_kb() -> None:
    event = {"requestContext": {"http": {"method": "POST"}}, "body": "x" * 600_000}
    assert (
        invocation_usage(event, {"body": "{}"}, seconds=0.01, memory_mb=512).quantities["api_requests"] == 2
    )


def test_a_job_adds_its_calls_invocations_and_a_months_storage() -> None:
    call = AwsCall("s3", "UploadPart", 200, 0, 0, _usage(s3_write_requests=1), stored_bytes=GB // 2)
    bill = job_bill("eachlabs", [call], [], stored_record=GB // 4)
    assert bill.usage.quantities["s3_gb_months"] == 0.5
    assert bill.usage.quantities["dynamodb_gb_months"] == 0.25
    assert bill.cost_usd == Decimal("0.005") / 1000 + Decimal("0.023") / 2 + Decimal("0.25") / 4


# -- prices --------------------------------------------------------------------------------------------
def test_usage_is_priced_per_unit_and_broken_down_by_service() -> None:
    usage = _usage(lambda_requests=1_000_000, dynamodb_wru=2_000_000, dynamodb_rru=8_000_000)
    assert usage.cost_usd() == Decimal("0.20") + Decimal("1.25") + Decimal("1.00")
    assert usage.by_service() == {"Lambda": Decimal("0.20"), "DynamoDB": Decimal("2.25")}


def test_a_dimension_without_a_price_is_refused() -> None:
    with pytest.raises(KeyError):
        Usage().add("glacier", 1)


def test_every_price_names_its_aws_page_where_it_was_read_and_when() -> None:
    assert set(PRICES) == set(SERVICES)
    for price in PRICES.values():
        assert price.source.startswith("https://aws.amazon.com/")
        assert price.read_via.startswith("https://")
        assert price.read_on


def test_the_provider_price_comes_from_the_catalog_and_is_none_where_none_is_published() -> None:
    assert provider_price_usd("byteplus") == Decimal("0.756")
    assert provider_price_usd("gateway") is None


def _usage(**quantities: float) -> Usage:
    usage = Usage()
    for dimension, quantity in quantities.items():
        usage.add(dimension, quantity)
    return usage
