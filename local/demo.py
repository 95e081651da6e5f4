"""`make demo`: one text-to-video job through the whole local stack, ending in a playable MP4.

Starts the stack, submits a job to POST /jobs, waits for GET /jobs/{id} to say succeeded (this is the
demo's client waiting, not the pipeline: the pipeline only reacts to webhooks and queue messages),
copies the video from local S3 into ./out/, checks it decodes, prints the job and stops the stack.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import av
import httpx

from local.stack import LocalStack, LocalStackConfig

TERMINAL = {"succeeded", "failed", "expired"}


def run_demo(stack: LocalStack, request: dict[str, Any], out_dir: Path, *, timeout: float = 180) -> int:
    with httpx.Client(base_url=stack.api_url, timeout=30) as api:
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
    parser.add_argument(
        "--provider", default="eachlabs", choices=["eachlabs", "atlascloud", "gateway", "jobs_api"]
    )
    parser.add_argument(
        "--prompt", default="A paper boat drifting down a rain-soaked street at dusk, slow push-in"
    )
    parser.add_argument("--resolution", default="480p")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--aspect-ratio", default="16:9")
    parser.add_argument("--out", type=Path, default=Path("out"))
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
        code = run_demo(stack, request, args.out)
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
