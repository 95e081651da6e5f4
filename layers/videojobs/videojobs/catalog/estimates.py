"""Cost estimates from the providers' published prices, recorded on each job at submit.

Each provider's price function lives in its unit (``videojobs.providers.<name>``), built on the shared
arithmetic of ``videojobs.pricing``; a provider that publishes no prices has none, and its jobs'
estimate is null. An estimate is also null whenever a quantity it needs is left to the provider
(``duration`` on auto, for instance).
"""

from __future__ import annotations

from videojobs.models import JobRequest
from videojobs.providers import UNITS


def estimate_cost_usd(request: JobRequest) -> float | None:
    estimate = UNITS[request.provider].estimate_cost_usd
    return None if estimate is None else estimate(request)
