"""SnapStart: the work a function does before Lambda snapshots it, and after an environment is restored.

With the template's ``SnapStart`` parameter at ``PublishedVersions``, Lambda runs a function's
initialization once per published version, snapshots the environment, and starts new environments from
that snapshot. Its Python runtime ships ``snapshot_restore_py``, whose ``register_before_snapshot`` and
``register_after_restore`` hooks run before the snapshot and after each restore. Without SnapStart
(or outside Lambda, where the package is not installed) the hooks are only kept here: ``prime()`` and
``restored()`` run them, for the tests and the cold-start bench.

What the snapshot may hold is what every restored environment may share: modules, pydantic validators,
botocore's service models, the resolver's routes. Not the secrets (a rotated key must reach a new
environment; each restore reads them itself, when a key is first needed), not credentials (botocore
would keep the snapshot's), not a connection (AWS's guidance: a connection made before the snapshot
may be stale after a restore, and would be shared by every environment restored from it), and not
random state (every restored environment would draw the same numbers).
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-best-practices.html
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

try:  # In Lambda's Python runtimes; not a dependency of ours.
    import snapshot_restore_py as _runtime_hooks
except ImportError:
    _runtime_hooks = None

Hook = Callable[[], None]
_before: list[Hook] = []
_after: list[Hook] = []

#: The services the ports' clients are for (bootstrap): their models are loaded before the snapshot.
AWS_SERVICES = ("dynamodb", "s3", "sqs", "events", "secretsmanager")
#: What bootstrap imports on a port's first use: imported before the snapshot instead.
LAZY_MODULES = (
    "httpx",
    "aws_lambda_powertools.utilities.idempotency",
    "videojobs.idempotency",
    "videojobs.adapters.budget",
    "videojobs.adapters.capacity",
    "videojobs.adapters.dynamodb",
    "videojobs.adapters.eventbridge",
    "videojobs.adapters.health",
    "videojobs.adapters.http_notifier",
    "videojobs.adapters.http_source",
    "videojobs.adapters.pinned_http",
    "videojobs.adapters.s3",
    "videojobs.adapters.sqs",
)


def before_snapshot(hook: Hook) -> Hook:
    """Run ``hook`` before Lambda takes the snapshot (hooks run in the reverse order of registration)."""
    _before.append(hook)
    if _runtime_hooks is not None:
        _runtime_hooks.register_before_snapshot(hook)
    return hook


def after_restore(hook: Hook) -> Hook:
    """Run ``hook`` in each environment restored from the snapshot (in the order of registration)."""
    _after.append(hook)
    if _runtime_hooks is not None:
        _runtime_hooks.register_after_restore(hook)
    return hook


def prime() -> None:
    """What Lambda runs before the snapshot: every before-snapshot hook, last registered first."""
    for hook in reversed(_before):
        hook()


def restored() -> None:
    """What Lambda runs after a restore: every after-restore hook, in order."""
    for hook in _after:
        hook()


@before_snapshot
def load_modules_and_models() -> None:
    """Import what the ports import on first use, and load botocore's models of the ports' services
    into the container's one session (``bootstrap.aws_session``), whose loader caches them."""
    from videojobs.bootstrap import aws_session
    from videojobs.providers import UNITS

    for module in (*LAZY_MODULES, *(f"videojobs.providers.{name}.adapter" for name in UNITS)):
        importlib.import_module(module)
    session = aws_session()
    for service in AWS_SERVICES:
        # A client of the session, made and dropped: its service model, endpoint rules and the
        # partitions come into the session's loader. Its credentials are dummies given to it alone: the
        # session resolves none (the environment's must be resolved after the restore), and a client
        # opens no connection until it sends a request, which this one never does.
        session.client(
            service,  # type: ignore[call-overload]
            region_name=session.region_name or "us-east-1",
            aws_access_key_id="snapshot",
            aws_secret_access_key="snapshot",  # noqa: S106 - a dummy, never sent
        )


def prime_routes(app: APIGatewayHttpResolver) -> None:
    """Register, before the snapshot, the building of each route's parameter and body models: what
    Powertools' validation builds on a route's first request otherwise."""

    def build_routes() -> None:
        routes: list[Any] = [*app._static_routes, *app._dynamic_routes]  # no public list of routes
        for route in routes:
            _ = route.dependant, route.body_field

    before_snapshot(build_routes)


@after_restore
def reseed_random() -> None:
    """The random module's state is in the snapshot: without a new seed, every restored environment
    would draw the same jitter (logic/dispatch.py spreads retries with it)."""
    random.seed()
