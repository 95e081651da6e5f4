"""CallerNotifier over httpx: one POST, no redirects followed, the answer's body never read."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from videojobs.errors import NotificationUndelivered


class HttpCallerNotifier:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            with self._client.stream("POST", url, content=body, headers=dict(headers)) as response:
                return response.status_code
        except httpx.HTTPError as error:
            raise NotificationUndelivered(f"no answer: {type(error).__name__}") from error
