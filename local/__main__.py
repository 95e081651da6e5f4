"""`make local`: run the whole local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading

from local.aws import REGION
from local.stack import LocalStack, LocalStackConfig


def main() -> None:
    stack = LocalStack(LocalStackConfig.from_environment()).start()
    # Imported once the stack has set the functions' environment, which Powertools reads on import.
    from videojobs.logic.doors import DROPS_PREFIX

    print(f"API (template.yaml routes)   {stack.api_url}")
    print(f"Swagger UI                   {stack.api_url}/docs")
    print(f"Console                      {stack.api_url}/console")
    print(f"AWS (moto server)            {stack.aws_endpoint}")
    print(f"Provider simulator           {stack.simulator.base_url}")
    for name in stack.simulator_providers:
        print(f"  {name:<26} {stack.environment.get(f'{name.upper()}_BASE_URL')}")
    inputs = stack.ref("InputsBucket")
    print(f"Jobs table                   {stack.ref('JobsTable')}")
    print(f"Videos bucket                {stack.ref('VideosBucket')}")
    print(f"Inputs bucket                {inputs}  (drops: s3://{inputs}/{DROPS_PREFIX})")
    print(f"Event bus                    {stack.ref('VideoEventsBus')}")
    credentials = f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION={REGION}"
    print(f"AWS credentials              {credentials}")
    print("Try:")
    print(
        f"  curl -s -X POST {stack.api_url}/jobs --aws-sigv4 aws:amz:{REGION}:execute-api -u testing:testing "
        "-H 'content-type: application/json' "
        """-d '{"provider":"eachlabs","prompt":"a lighthouse at dusk","resolution":"480p","duration":4}'"""
    )
    print(
        f"  {credentials} aws --endpoint-url {stack.aws_endpoint} "
        f"s3 cp cat.png s3://{inputs}/{DROPS_PREFIX}cat.png "
        """--metadata prompt="a cat wakes up and yawns",duration=5,resolution=480p"""
    )
    print("Ctrl-C stops everything.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    stack.stop()


if __name__ == "__main__":
    main()
