"""Fixtures the unit tests share."""

from typing import Any

import pytest

from videojobs.observability import logger


@pytest.fixture
def logged_warnings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What the layer logs as warnings, as (message, fields)."""
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(logger, "warning", lambda message, **fields: logged.append((message, fields)))
    return logged
