"""The AWS adapters against moto server over HTTP, on resources built from template.yaml."""

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.aws import ProvisionedStack
from tests.support import fake_mp4
from videojobs.adapters.dynamodb import DynamoDBJobStore
from videojobs.adapters.eventbridge import EventBridgePublisher
from videojobs.adapters.s3 import S3InputMedia, S3VideoStore
from videojobs.adapters.sqs import SqsStatusChecks, SqsTransferQueue
from videojobs.errors import TransferFailed
from videojobs.models import (
    AWAITING_PROVIDER,
    JOB_SUCCEEDED,
    Job,
    JobRequest,
    JobStatus,
    OpenUpload,
    OutputCheck,
    S3Location,
    StatusCheckRequest,
    StoredVideo,
    TransferRequest,
    VideoMetadata,
)
from videojobs.ports import Lost

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


@pytest.fixture
def store(aws: Any, aws_resources: ProvisionedStack) -> DynamoDBJobStore:
    return DynamoDBJobStore(aws("dynamodb"), aws_resources.refs["JobsTable"])


def new_job(**request: Any) -> Job:
    job_request = JobRequest.model_validate({"provider": "eachlabs", "prompt": "lighthouse", **request})
    return Job.new(job_request, now=NOW, retention=timedelta(days=30))


def test_a_job_round_trips_through_dynamodb(store: DynamoDBJobStore) -> None:
    job = new_job(duration=6, seed=42, first_frame_url="https://cdn.example.com/a.png")

    assert store.create_if_absent(job) is None

    assert store.get(job.job_id) == job
    assert store.get("missing") is None


def test_transitions_only_move_forward(store: DynamoDBJobStore) -> None:
    job = new_job()
    assert store.create_if_absent(job) is None
    video = StoredVideo(
        bucket="b",
        key="k",
        size_bytes=10,
        sha256="0" * 64,
        content_type="video/mp4",
        metadata=VideoMetadata(
            duration_seconds=5.042,
            width=1248,
            height=704,
            fps=23.976,
            video_codec="hvc1",
            audio_codec=None,
            has_audio=False,
        ),
        checks=[OutputCheck(check="audio", expected="an audio track", actual="no audio track")],
    )

    submitted = store.transition(
        job.job_id,
        to=JobStatus.SUBMITTED,
        allowed_from={JobStatus.QUEUED},
        changes={"provider_job_id": "p"},
        now=NOW,
    )
    succeeded = store.transition(
        job.job_id,
        to=JobStatus.SUCCEEDED,
        allowed_from={JobStatus.SUBMITTED},
        changes={"video": video.model_dump(), "provider_job_id": None},
        now=NOW + timedelta(seconds=1),
    )
    late = store.transition(job.job_id, to=JobStatus.FAILED, allowed_from=AWAITING_PROVIDER, now=NOW)

    assert isinstance(submitted, Job)
    assert submitted.provider_job_id == "p"
    assert isinstance(succeeded, Job)
    assert succeeded.video == video
    assert succeeded.provider_job_id is None
    # The lost write hands back the job as it was, from the same request (no second read).
    assert late == Lost(succeeded)
    assert store.get(job.job_id) == succeeded


def test_concurrent_transitions_have_exactly_one_winner(store: DynamoDBJobStore) -> None:
    job = new_job()
    assert store.create_if_absent(job) is None
    winners: list[Job] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        result = store.transition(
            job.job_id, to=JobStatus.TRANSFERRING, allowed_from=AWAITING_PROVIDER, now=NOW
        )
        if isinstance(result, Job):
            winners.append(result)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(winners) == 1


def test_a_transition_of_an_unknown_job_creates_nothing(store: DynamoDBJobStore) -> None:
    assert store.transition("ghost", to=JobStatus.FAILED, allowed_from=AWAITING_PROVIDER, now=NOW) == Lost(
        None
    )
    assert store.get("ghost") is None


def test_the_table_has_the_template_ttl(aws: Any, aws_resources: ProvisionedStack) -> None:
    ttl = aws("dynamodb").describe_time_to_live(TableName=aws_resources.refs["JobsTable"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


@pytest.fixture
def videos(aws: Any, aws_resources: ProvisionedStack) -> S3VideoStore:
    return S3VideoStore(aws("s3"), aws_resources.refs["VideosBucket"], part_size=5 * MIB)


def test_a_stream_larger_than_a_part_is_stored_in_parts(videos: S3VideoStore, aws: Any) -> None:
    data = fake_mp4(12 * MIB + 123)
    chunks = (data[offset : offset + 64 * 1024] for offset in range(0, len(data), 64 * 1024))

    stored = videos.upload_stream("videos/big.mp4", chunks, content_type="video/mp4")

    body = aws("s3").get_object(Bucket=stored.bucket, Key=stored.key)
    assert stored.size_bytes == len(data)
    assert hashlib.sha256(body["Body"].read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert body["ContentType"] == "video/mp4"
    parts = aws("s3").head_object(Bucket=stored.bucket, Key=stored.key, PartNumber=1)
    assert parts["PartsCount"] == 3


def test_a_stream_that_breaks_leaves_no_object_and_no_parts(videos: S3VideoStore, aws: Any) -> None:
    s3 = aws("s3")
    bucket = videos._bucket

    def breaking() -> Any:
        yield fake_mp4(6 * MIB)
        raise TransferFailed("connection reset")

    with pytest.raises(TransferFailed):
        videos.upload_stream("videos/broken.mp4", breaking(), content_type="video/mp4")

    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="videos/broken.mp4")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


class AbortRefused:
    """An S3 client whose AbortMultipartUpload answers 503, as during an S3 outage."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def abort_multipart_upload(self, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "slow down"}}, "AbortMultipartUpload"
        )


def test_an_upload_whose_abort_is_refused_is_named_on_the_failure_and_discarded_later(
    videos: S3VideoStore, aws: Any
) -> None:
    s3 = aws("s3")
    bucket = videos._bucket
    refusing = S3VideoStore(AbortRefused(s3), bucket, part_size=5 * MIB)  # type: ignore[arg-type]
    other = s3.create_multipart_upload(Bucket=bucket, Key="videos/j1.mp4")["UploadId"]  # someone else's

    def breaking() -> Any:
        yield fake_mp4(6 * MIB)
        raise TransferFailed("connection reset")

    with pytest.raises(TransferFailed) as failed:
        refusing.upload_stream("videos/j1.mp4", breaking(), content_type="video/mp4")
    ((key, upload_id),) = failed.value.left_open
    left = OpenUpload(key=key, upload_id=upload_id)
    assert left.key == "videos/j1.mp4"
    open_ids = {upload["UploadId"] for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert open_ids == {left.upload_id, other}

    assert videos.discard_unfinished([left]) == 1
    assert videos.discard_unfinished([left]) == 1  # already gone counts as gone
    assert refusing.discard_unfinished([OpenUpload(key="videos/j1.mp4", upload_id=other)]) == 0

    open_ids = {upload["UploadId"] for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert open_ids == {other}  # only what was named is aborted
    s3.abort_multipart_upload(Bucket=bucket, Key="videos/j1.mp4", UploadId=other)


def test_the_uploads_failed_attempts_left_open_add_up_on_the_job_and_go_with_its_success(
    store: DynamoDBJobStore,
) -> None:
    job = new_job()
    store.create_if_absent(job)
    first, second = (OpenUpload(key=f"videos/{job.job_id}.mp4", upload_id=f"u{n}") for n in (1, 2))

    store.record_transfer_error(job.job_id, "cut", code="transfer_failed", now=NOW, left_open=[first])
    store.record_transfer_error(job.job_id, "cut again", code="transfer_failed", now=NOW)
    store.record_transfer_error(job.job_id, "503", code="transfer_failed", now=NOW, left_open=[second])

    recorded = store.get(job.job_id)
    assert recorded is not None
    assert (recorded.transfer_error, recorded.uploads_left_open) == ("503", [first, second])
    done = store.transition(
        job.job_id, to=job.status, allowed_from={job.status}, changes={"uploads_left_open": []}, now=NOW
    )
    assert not isinstance(done, Lost)
    assert done.uploads_left_open == []


def test_events_reach_a_rule_on_the_template_bus(aws: Any, aws_resources: ProvisionedStack) -> None:
    sqs, events = aws("sqs"), aws("events")
    bus = aws_resources.refs["VideoEventsBus"]
    queue_url = sqs.create_queue(QueueName="integration-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["test.source"]}))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    job = new_job()

    EventBridgePublisher(events, bus, "test.source").job_succeeded(job)

    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    event = json.loads(messages[0]["Body"])
    assert event["detail-type"] == JOB_SUCCEEDED
    assert event["detail"]["job_id"] == job.job_id
    assert "output_url" not in event["detail"]


def test_transfer_requests_go_through_the_template_queue(aws: Any, aws_resources: ProvisionedStack) -> None:
    sqs = aws("sqs")
    queue_url = aws_resources.refs["TransferQueue"]
    request = TransferRequest(job_id="j-1", source_url="https://cdn.example.com/o.mp4")

    SqsTransferQueue(sqs, queue_url).enqueue(request)

    message = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"][0]
    assert TransferRequest.model_validate_json(message["Body"]) == request
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_a_status_check_is_invisible_until_its_delay_has_passed(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    sqs = aws("sqs")
    queue_url = aws_resources.refs["StatusCheckQueue"]
    checks = SqsStatusChecks(sqs, queue_url)
    request = StatusCheckRequest(job_id="job-delayed", attempt=3)

    checks.schedule(request, delay_seconds=2)

    early = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", [])
    late = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=3).get("Messages", [])
    assert early == []
    assert [StatusCheckRequest.model_validate_json(m["Body"]) for m in late] == [request]


def test_s3_inputs_exist_presign_and_stream(
    aws: Any, aws_resources: ProvisionedStack, moto_endpoint: str
) -> None:
    s3 = aws("s3")
    bucket = aws_resources.refs["InputsBucket"]
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    s3.put_object(Bucket=bucket, Key="frames/start.png", Body=data, ContentType="image/png")
    s3.put_object(Bucket=bucket, Key="clips/ref.mp4", Body=b"x" * 10)
    sigv4 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )
    inputs = S3InputMedia(sigv4, chunk_size=1000)
    location = S3Location(bucket, "frames/start.png")

    presigned = inputs.presign(location, expires_in_seconds=300)
    with inputs.open(location, "image") as media:
        chunks = list(media.chunks)
    with inputs.open(S3Location(bucket, "clips/ref.mp4"), "video") as untyped:
        guessed = untyped.content_type

    assert inputs.exists(location)
    assert not inputs.exists(S3Location(bucket, "frames/missing.png"))
    assert "X-Amz-Signature=" in presigned
    assert httpx.get(presigned).content == data
    assert (media.filename, media.content_type, media.kind, media.size_bytes) == (
        "start.png",
        "image/png",
        "image",
        len(data),
    )
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= 1000
    assert guessed == "video/mp4"
