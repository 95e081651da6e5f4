"""The provider dialects, one package each; ``UNITS`` lists them (a test holds it equal to ProviderName).

Importing a unit loads its capability row, price and settings, never its adapter or httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from videojobs.models import ProviderName
from videojobs.providers import atlascloud, byteplus, eachlabs, fal, gateway, jobs_api, replicate
from videojobs.providers.unit import ProviderUnit

UNITS: Mapping[ProviderName, ProviderUnit[Any]] = {
    module.UNIT.name: module.UNIT
    for module in (eachlabs, atlascloud, gateway, jobs_api, fal, replicate, byteplus)
}
