"""CallerNotifier over httpx: one POST, no redirects followed, the answer's body never read.

Give it a client from ``pinned_http.pinned_client``: the notify_url's host is then resolved once,
refused if any of its addresses is not public (loopback only in local mode), and connected to at the
address that was checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from videojobs.adapters.pinned_http import AddressRefused
from videojobs.errors import NotificationUndelivered


class HttpCallerNotifier:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            with self._client.stream(
                "POST", url, content=body, headers=dict(headers), follow_redirects=False
            ) as response:
                return response.status_code
        except AddressRefused as refused:
            raise NotificationUndelivered(f"notify_url refused: {refused}") from refused
        except httpx.HTTPError as error:
            raise NotificationUndelivered(f"no answer: {type(error).__name__}") from error
