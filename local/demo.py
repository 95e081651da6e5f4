"""`make demo`: one text-to-video job through the whole local stack, ending in a playable MP4.

Starts the stack, submits a job to POST /jobs, waits for GET /jobs/{id} to say succeeded (this is the
demo's client waiting, not the pipeline: the pipeline only reacts to webhooks and queue messages),
copies the video from local S3 into ./out/, checks it decodes, prints the job and stops the stack.

`--drop` takes the S3 door instead: it puts an image with its prompt in the object's metadata under
drops/ in the inputs bucket (S3 -> EventBridge -> the intake queue), and waits for the pipeline's
"Video Job Succeeded" event about that object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import av

from local.simulator import dimensions_for, encode_png
from local.stack import LocalStack, LocalStackConfig
from videojobs.models import TERMINAL as FINAL_STATUSES
from videojobs.providers import UNITS

TERMINAL = {status.value for status in FINAL_STATUSES}
#: x-amz-meta-<name> on the dropped image -> the request field it carries.
DROP_METADATA = {
    "prompt": "prompt",
    "provider": "provider",
    "duration": "duration",
    "resolution": "resolution",
    "aspect-ratio": "aspect_ratio",
}


def run_demo(stack: LocalStack, request: dict[str, Any], out_dir: Path, *, timeout: float = 180) -> int:
    with stack.api_client() as api:
        submitted = api.post("/jobs", json=request)
        print(f"POST /jobs -> {submitted.status_code}")
        if submitted.status_code != 202:
            print(submitted.text)
            return 1
        job_id = submitted.json()["job_id"]
        deadline = time.monotonic() + timeout
        job = submitted.json()
        while job["status"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.5)
            job = api.get(f"/jobs/{job_id}").json()
    return show_result(stack, job, out_dir)


def run_drop_demo(stack: LocalStack, request: dict[str, Any], out_dir: Path, *, timeout: float = 180) -> int:
    inputs, key = stack.ref("InputsBucket"), "drops/demo-first-frame.png"
    width, height = dimensions_for(request["resolution"], request["aspect_ratio"])
    image = encode_png(width, height, _gradient(width, height))
    metadata = {key: str(request[field]) for key, field in DROP_METADATA.items()}
    stack.client("s3").put_object(
        Bucket=inputs, Key=key, Body=image, ContentType="image/png", Metadata=metadata
    )
    print(f"s3://{inputs}/{key} <- {len(image)} bytes, metadata {metadata}")
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        for event in stack.drain_events(wait_seconds=0.5):
            if event["detail"].get("origin", {}).get("key") != key:
                continue
            print(f"{event['detail-type']} after {time.monotonic() - started:.1f} s")
            if event["detail-type"] == "Video Job Rejected":
                print(json.dumps(event["detail"], indent=2))
                return 1
            return show_result(stack, event["detail"], out_dir)
    print(f"no outcome for {key} within {timeout} s", file=sys.stderr)
    return 1


def _gradient(width: int, height: int) -> bytes:
    return bytes(
        value
        for row in range(height)
        for column in range(width)
        for value in (column * 255 // width, row * 255 // height, 160)
    )


def show_result(stack: LocalStack, job: dict[str, Any], out_dir: Path) -> int:
    job_id = job["job_id"]
    print(json.dumps(job, indent=2))
    if job["status"] != "succeeded":
        print(f"job ended {job['status']}", file=sys.stderr)
        return 1
    video = job["video"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{job_id}.mp4"
    stack.client("s3").download_file(video["bucket"], video["key"], str(target))
    with av.open(str(target)) as container:
        streams = ", ".join(f"{s.type}:{s.codec_context.name}" for s in container.streams)
        stream = container.streams.video[0]
        duration = float(container.duration or 0) / av.time_base
        size = video["size_bytes"]
        print(f"{target}: {stream.width}x{stream.height}, {duration:.2f} s, {streams}, {size} bytes")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--provider", default="eachlabs", choices=list(UNITS))
    parser.add_argument(
        "--prompt", default="A paper boat drifting down a rain-soaked street at dusk, slow push-in"
    )
    parser.add_argument("--resolution", default="480p")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--aspect-ratio", default="16:9")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument(
        "--drop", action="store_true", help="start the job by dropping an image into the inputs bucket"
    )
    args = parser.parse_args()
    request = {
        "provider": args.provider,
        "prompt": args.prompt,
        "resolution": args.resolution,
        "duration": args.duration,
        "aspect_ratio": args.aspect_ratio,
        "generate_audio": True,
    }
    started = time.monotonic()
    with LocalStack(LocalStackConfig.from_environment(ephemeral=True)) as stack:
        run = run_drop_demo if args.drop else run_demo
        code = run(stack, request, args.out)
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
