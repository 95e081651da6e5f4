"""The local stack's pages, served by its API front beside template.yaml's routes: Swagger UI for
`GET /openapi.json` at /docs, and a small console at /console (jobs, a job, a form to submit one).

The pages call the API as any client does, but a browser cannot sign with SigV4, so the front signs
their requests itself, with the local credentials, and only theirs. A request is a page's when all
of these hold; any other is checked as it came, and unsigned it gets API Gateway's 403:

- it carries no ``Authorization`` of its own (a signed request is checked as it is);
- it is addressed to the front by its own loopback name and port (``Host``): a name that an
  attacker's DNS points at 127.0.0.1 is not;
- it carries this front's cookie: a random token, new each time the stack starts, that every page
  sets (``HttpOnly``, ``SameSite=Strict``; its name holds the port, as cookies do not);
- the browser says it comes from the front's own origin (``Origin`` and ``Sec-Fetch-Site``, where
  it sends them);
- other than ``GET`` and ``HEAD``, it carries ``X-Seedance-Console``: a page of another origin
  can send that header only after a CORS preflight, which the front never grants. (A ``<video>``
  cannot send headers, hence the exception for reading.)

Only the local stack's front has pages (`LocalStack`); deployed, API Gateway has none of this.
Swagger UI's files come from the flask-swagger-ui package (Swagger UI 5, which reads OpenAPI 3.1);
nothing is fetched from the network.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from functools import cache
from http.cookies import CookieError, SimpleCookie
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.sigv4 import signature_headers

#: The header the pages send with every call they make.
MARKER_HEADER = "x-seedance-console"
COOKIE_PREFIX = "seedance_console_"
STATIC = Path(__file__).with_name("static")
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Sec-Fetch-Site values of a request the page itself made, or the user typed.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The files served, by extension (pages are served by path alone). Swagger UI's bundle is UTF-8, not
#: ASCII: read as Latin-1 it does not even parse.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
_JOB_PAGE = re.compile(r"/console/jobs/[^/]+")
#: Pages never leave the browser's cache stale, nor open in another site's frame.
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@cache
def swagger_ui_files() -> Path:
    """The directory of Swagger UI's dist files, as the flask-swagger-ui package ships them."""
    return Path(str(files("flask_swagger_ui").joinpath("dist")))


class LocalPages:
    """/docs and /console, and the signing of their own API calls (see the module's docstring)."""

    prefixes = ("/docs", "/console")

    def __init__(self, token: str | None = None) -> None:
        self._token = token or secrets.token_urlsafe(32)

    # -- serving ---------------------------------------------------------------------------------
    def serve(self, method: str, path: str, headers: Mapping[str, str], origin: str) -> dict[str, Any] | None:
        if not any(path == prefix or path.startswith(f"{prefix}/") for prefix in self.prefixes):
            return None
        if method not in SAFE_METHODS:
            return _answer(405, b"Method Not Allowed\n", "text/plain; charset=utf-8", allow="GET, HEAD")
        page = self._page(path)
        if page is not None:
            answer = _answer(200, (STATIC / page).read_bytes(), "text/html; charset=utf-8", **_PAGE_HEADERS)
            answer["cookies"] = [self._cookie(origin)]
            return answer
        found = self._asset(path)
        if found is None:
            return _answer(404, b"Not Found\n", "text/plain; charset=utf-8")
        # Read at each request, and never cached: an edit shows at the next reload.
        return _answer(200, found.read_bytes(), CONTENT_TYPES[found.suffix], **{"cache-control": "no-cache"})

    @staticmethod
    def _page(path: str) -> str | None:
        if path in ("/docs", "/docs/"):
            return "docs.html"
        if path in ("/console", "/console/"):
            return "console.html"
        return "job.html" if _JOB_PAGE.fullmatch(path) else None

    @staticmethod
    def _asset(path: str) -> Path | None:
        for prefix, directory in (("/docs/swagger-ui/", swagger_ui_files()), ("/console/static/", STATIC)):
            name = path.removeprefix(prefix)
            if name != path and _FILE_NAME.fullmatch(name) and Path(name).suffix in CONTENT_TYPES:
                candidate = directory / name
                return candidate if candidate.is_file() else None
        return None

    def _cookie(self, origin: str) -> str:
        return f"{self.cookie_name(origin)}={self._token}; Path=/; HttpOnly; SameSite=Strict"

    @staticmethod
    def cookie_name(origin: str) -> str:
        return f"{COOKIE_PREFIX}{urlsplit(origin).port}"

    # -- signing -----------------------------------------------------------------------------------
    def signed(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, origin: str
    ) -> dict[str, str] | None:
        if not self.is_page_request(method, headers, origin):
            return None
        forwarded = _without_cookie(headers, self.cookie_name(origin))
        forwarded.pop(MARKER_HEADER, None)
        url = f"http://{headers['host']}{target}"
        signature = signature_headers(method, url, forwarded, body)
        return {**forwarded, **{name.lower(): value for name, value in signature.items()}}

    def is_page_request(self, method: str, headers: Mapping[str, str], origin: str) -> bool:
        own = urlsplit(origin)
        hosts = {f"{own.hostname}:{own.port}", f"localhost:{own.port}"}
        if "authorization" in headers or headers.get("host") not in hosts:
            return False
        if "origin" in headers and headers["origin"] not in {f"http://{host}" for host in hosts}:
            return False
        if headers.get("sec-fetch-site", "same-origin") not in OWN_FETCH_SITES:
            return False
        if method not in SAFE_METHODS and headers.get(MARKER_HEADER) != "1":
            return False
        sent = _cookies(headers).get(self.cookie_name(origin))
        return sent is not None and hmac.compare_digest(sent.encode(), self._token.encode())


def _cookies(headers: Mapping[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _without_cookie(headers: Mapping[str, str], name: str) -> dict[str, str]:
    """The headers with the pages' cookie taken out: the functions never see the token."""
    kept = dict(headers)
    others = [part.strip() for part in kept.pop("cookie", "").split(";") if part.strip()]
    others = [part for part in others if part.partition("=")[0].strip() != name]
    if others:
        kept["cookie"] = "; ".join(others)
    return kept


def _answer(status: int, body: bytes, content_type: str, **headers: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": content_type, **headers}, "body": body}
