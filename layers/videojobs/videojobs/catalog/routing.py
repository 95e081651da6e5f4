"""Where a request may go: its candidates, in the order they are tried.

- A named provider without ``providers`` has one candidate, itself, as it always had.
- A named provider with ``providers`` has them after it, in the order given: where it fails over to.
  A listed provider that is not enabled, or cannot serve the request, is left out.
- ``"auto"`` has every enabled provider that serves the whole request (of ``providers`` when given):
  the cheapest estimate first, then those without an estimate in ``order`` (ROUTING_ORDER).
  None: NoProviderServes, naming each field that stopped a provider.

Enabled means configured: a base URL and at least one API key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from videojobs.catalog.capabilities import check_provider_serves, serving_problem
from videojobs.catalog.estimates import estimate_cost_usd
from videojobs.errors import NoProviderServes, RequestRejected
from videojobs.models import AUTO, JobRequest, ProviderName, Route


@dataclass(frozen=True)
class RoutePlan:
    route: Route
    #: Each candidate's estimate (None where it has none).
    estimates: Mapping[ProviderName, float | None]

    @property
    def first_estimate(self) -> float | None:
        return self.estimates[self.route.chosen]


def plan_route(
    request: JobRequest,
    *,
    enabled: Sequence[ProviderName],
    order: Sequence[ProviderName],
    price_per_second_usd: Mapping[ProviderName, Decimal],
) -> RoutePlan:
    """Raises RequestRejected (NoProviderServes for ``"auto"``) before anything is written."""

    def estimate(provider: ProviderName) -> float | None:
        return estimate_cost_usd(request.for_provider(provider), price_per_second_usd.get(provider))

    if request.provider != AUTO:
        first = request.provider
        check_provider_serves(request.for_provider(first))
        if first not in enabled:
            raise RequestRejected("provider", f"{first} is not configured in this deployment")
        backups = [
            name
            for name in request.providers or []
            if name != first and name in enabled and serving_problem(request, name) is None
        ]
        candidates = [first, *backups]
        return RoutePlan(
            Route(candidates=candidates, chosen=first), {name: estimate(name) for name in candidates}
        )

    allowed = set(request.providers or order)
    pool = [name for name in order if name in allowed and name in enabled]
    verdicts = {name: serving_problem(request, name) for name in pool}
    serving = [name for name, problem in verdicts.items() if problem is None]
    if not serving:
        problems = [problem for problem in verdicts.values() if problem is not None]
        if not pool:
            problems = [RequestRejected("providers", "none of the providers named is enabled here")]
        raise NoProviderServes(problems)
    estimates = {name: estimate(name) for name in serving}
    # sorted() is stable: equal estimates keep ROUTING_ORDER's order.
    priced = sorted(
        (name for name in serving if estimates[name] is not None), key=lambda n: estimates[n] or 0
    )
    unpriced = [name for name in serving if estimates[name] is None]
    candidates = [*priced, *unpriced]
    return RoutePlan(Route(candidates=candidates, chosen=candidates[0]), estimates)
