"""`make local`: run the whole local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading

from local.stack import LocalStack, LocalStackConfig


def main() -> None:
    stack = LocalStack(LocalStackConfig.from_environment()).start()
    print(f"API (template.yaml routes)   {stack.api_url}")
    print(f"AWS (moto server)            {stack.aws_endpoint}")
    print(f"Provider simulator           {stack.simulator.base_url}")
    for name in stack.simulator_providers:
        print(f"  {name:<26} {stack.environment.get(f'{name.upper()}_BASE_URL')}")
    print(f"Jobs table                   {stack.ref('JobsTable')}")
    print(f"Videos bucket                {stack.ref('VideosBucket')}")
    print(f"Event bus                    {stack.ref('VideoEventsBus')}")
    print("Try:")
    print(
        f"  curl -s -X POST {stack.api_url}/jobs -H 'content-type: application/json' "
        """-d '{"provider":"eachlabs","prompt":"a lighthouse at dusk","resolution":"480p","duration":4}'"""
    )
    print("Ctrl-C stops everything.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    stack.stop()


if __name__ == "__main__":
    main()
