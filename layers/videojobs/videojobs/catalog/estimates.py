"""Cost estimates from the providers' published prices, recorded on each job at submit.

Each provider's price function lives in its unit (``videojobs.providers.<name>``), built on the shared
arithmetic of ``videojobs.pricing``. A provider that publishes no prices has none: its jobs' estimate
is the operator's price per output second (``<PROVIDER>_PRICE_PER_SECOND_USD``) times the duration
where one is set, and null otherwise. An estimate is also null whenever a quantity it needs is left to
the provider (``duration`` on auto, for instance).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from videojobs.catalog.capabilities import named_provider
from videojobs.models import JobRequest
from videojobs.providers import UNITS

#: Estimates are kept to 4 decimal places, as the published prices' are.
CENT_HUNDREDTHS = Decimal("0.0001")


def estimate_cost_usd(request: JobRequest, price_per_second_usd: Decimal | None = None) -> float | None:
    """``request`` names its provider (``JobRequest.for_provider``)."""
    estimate = UNITS[named_provider(request)].estimate_cost_usd
    if estimate is not None:
        return estimate(request)
    if price_per_second_usd is None or request.duration is None:
        return None
    return float((price_per_second_usd * request.duration).quantize(CENT_HUNDREDTHS, rounding=ROUND_CEILING))
