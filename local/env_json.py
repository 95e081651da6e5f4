"""`make env-json`: env.json for `sam local invoke --env-vars env.json` and `sam local start-api`, so
that functions run by `sam local` in containers use a running `make local`'s AWS and simulator.

Per function logical id: every variable template.yaml declares for it (`sam local` passes a function
those and no others), valued as the local stack values them (`local.stack.function_environments`): its
resources' names as `make local` creates them (`local.aws.plan`), the local settings, and "" where the
stack leaves the default. Two addresses differ from the stack's own, because the function runs in a
container: AWS (``AWS_ENDPOINT_URL`` and the queue URLs) and the simulator (``*_BASE_URL``,
``*_JWKS_URL``) are at ``host.docker.internal``, where a container reaches the host. ``PUBLIC_BASE_URL``
stays the API front's loopback address: the simulator, on the host, sends its webhooks there. The ports
are `make local`'s (``LOCAL_AWS_PORT``, ``LOCAL_API_PORT``, ``LOCAL_SIMULATOR_PORT``: 5000, 3000, 8900),
so the stack must run on the same ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from local.aws import plan
from local.stack import (
    HOST,
    LocalStackConfig,
    function_environments,
    local_overrides,
    local_secret_values,
    local_simulator,
    simulator_settings,
)
from local.template import ROOT, read_application
from videojobs.settings import Settings

#: How a container reaches the host (on Linux: `--add-host host.docker.internal:host-gateway`).
CONTAINER_HOST = "host.docker.internal"
ENV_JSON = ROOT / "env.json"


def env_json(config: LocalStackConfig | None = None) -> dict[str, dict[str, str]]:
    """Function logical id -> every variable the template declares for it -> its local value."""
    config = config or LocalStackConfig.from_environment()
    application = read_application()
    aws_endpoint = f"http://{CONTAINER_HOST}:{config.aws_port}"
    resources = plan(
        application.resources,
        application.parameters,
        endpoint_url=aws_endpoint,
        stack_name=config.stack_name,
        conditions=application.conditions,
    )
    overrides = local_overrides(config)
    simulator = local_simulator(config)
    try:
        simulator_url = f"http://{CONTAINER_HOST}:{config.simulator_port}"
        providers = simulator_settings(simulator, overrides, simulator_url=simulator_url)
    finally:
        simulator.stop()
    environments = function_environments(
        application,
        resources,
        aws_endpoint=aws_endpoint,
        api_url=f"http://{HOST}:{config.api_port}",
        simulator_settings=providers,
        overrides=overrides,
    )
    return {
        logical_id: {name: environments[logical_id].get(name, "") for name in sorted(spec.environment)}
        for logical_id, spec in application.functions.items()
    }


def function_settings(logical_id: str, config: LocalStackConfig | None = None) -> Settings:
    """The settings a function runs with under `sam local` on env.json: its variables, and what the
    local stack keeps in its secret (the webhook token secret, the simulator's API keys)."""
    config = config or LocalStackConfig.from_environment()
    return Settings.load(local_secret_values(local_overrides(config)), environ=env_json(config)[logical_id])


def write_env_json(path: Path = ENV_JSON, config: LocalStackConfig | None = None) -> Path:
    path.write_text(json.dumps(env_json(config), indent=2) + "\n")
    return path


def main() -> None:
    config = LocalStackConfig.from_environment()
    path = write_env_json(config=config)
    print(
        f"wrote {path.relative_to(ROOT)} for `sam local invoke --env-vars {path.name}`: "
        f"the functions use `make local` at AWS {config.aws_port}, API {config.api_port}, "
        f"simulator {config.simulator_port} (through {CONTAINER_HOST})"
    )


if __name__ == "__main__":
    main()
