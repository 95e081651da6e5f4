"""Run the provider simulator in the foreground: ``python -m local.simulator --port 8900``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from local.simulator.dialects import DEFAULT_API_KEYS
from local.simulator.server import ProviderSimulator


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8900, help="port to bind; 0 picks a free one (default: 8900)"
    )
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=2.0,
        help="how long each prediction stays 'processing' before its clip is rendered (default: 2)",
    )
    for provider, key in DEFAULT_API_KEYS.items():
        parser.add_argument(
            f"--{provider.replace('_', '-')}-key",
            dest=f"{provider}_key",
            default=key,
            help=f"the API key the {provider} dialect accepts (default: %(default)s)",
        )
    parser.add_argument(
        "--allow-loopback-media",
        action="store_true",
        help="accept http(s) media URLs on loopback hosts (the local stack's S3); fetch them on create",
    )
    parser.add_argument("--media-cache-dir", type=Path, help="keep rendered clips here across runs")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    simulator = ProviderSimulator(
        host=args.host,
        port=args.port,
        api_keys={provider: getattr(args, f"{provider}_key") for provider in DEFAULT_API_KEYS},
        processing_seconds=args.processing_seconds,
        media_cache_dir=args.media_cache_dir,
        allow_loopback_media=args.allow_loopback_media,
    )
    with simulator:
        print(simulator.base_url, flush=True)
        for provider in simulator.providers:
            print(f"  {provider}: {simulator.provider_base_url(provider)}", flush=True)
        print(
            f"  control plane: {simulator.base_url}/_sim/requests | /_sim/faults | /_sim/predictions"
            " | /_sim/uploads | /_sim/api-keys | /_sim/usage | POST /_sim/keys/rotate",
            flush=True,
        )
        stop_requested.wait()


if __name__ == "__main__":
    main()
