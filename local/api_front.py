"""Like `sam local start-api`: serves template.yaml's HttpApi routes as API Gateway HTTP API v2 events."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from local.lambdas import LocalFunction
from local.sigv4 import LOCAL_CREDENTIALS, signature_problem
from local.template import HttpRoute, UnsupportedTrigger

log = logging.getLogger("local.api_front")
#: requestContext.authorizer.iam of a request signed with the local stack's credentials.
LOCAL_CALLER = {
    "accessKey": LOCAL_CREDENTIALS.access_key,
    "accountId": "123456789012",
    "callerId": "AIDALOCALCALLER",
    "principalOrgId": None,
    "userArn": "arn:aws:iam::123456789012:user/local",
    "userId": "AIDALOCALCALLER",
}

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


DEFAULT_ROUTE = "$default"
#: AuthorizationType values the front enforces: SigV4 with the local credentials, or none.
CHECKED_AUTHORIZERS = frozenset({"AWS_IAM", "NONE"})
#: API Gateway's payload limit: a larger body never reaches a function.
MAX_BODY_BYTES = 10 * 1024 * 1024


class Site(Protocol):
    """Pages the front serves beside the template's routes, whose own requests it may sign
    (`local/pages.py`). ``headers`` are lower-cased; ``origin`` is the front's, ``http://host:port``."""

    #: The paths the site owns: these and everything under them. No template route may be there.
    prefixes: tuple[str, ...]

    def serve(self, method: str, path: str, headers: Mapping[str, str], origin: str) -> dict[str, Any] | None:
        """The answer to a request for one of the site's paths; None for any other path."""

    def signed(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, origin: str
    ) -> dict[str, str] | None:
        """A request of the site's pages, its headers signed on their behalf; None for any other."""


class CompiledRoute:
    """One template route. API Gateway picks a route with the request's method first, then the
    path's ANY route, then $default: `precedence` orders them so."""

    def __init__(self, route: HttpRoute) -> None:
        self.route = route
        pattern = re.sub(r"\\\{([^}+]+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
        self._regex = re.compile(f"^{pattern}$")
        self.precedence = 2 if route.path == DEFAULT_ROUTE else 1 if route.method == "ANY" else 0

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.route.path == DEFAULT_ROUTE else f"{self.route.method} {self.route.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.path == DEFAULT_ROUTE:
            return {}
        if self.route.method not in (method, "ANY"):
            return None
        found = self._regex.match(path)
        return found.groupdict() if found else None


def build_http_api_event(
    *,
    route: HttpRoute,
    route_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    path_parameters: Mapping[str, str],
    source_ip: str,
) -> dict[str, Any]:
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = lowered.get("content-type", "")
    is_text = not body or (content_type.startswith(TEXT_TYPES) and _is_utf8(body))
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": lowered.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if body:
        event["body"] = body.decode() if is_text else base64.b64encode(body).decode()
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


def _is_utf8(body: bytes) -> bool:
    # API Gateway passes a text body that is not UTF-8 base64-encoded; decoding it here would crash.
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(f"{prefix}/")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 resets connections under a burst of webhooks.
    request_queue_size = 128


class ApiFront:
    def __init__(
        self,
        routes: list[HttpRoute],
        functions: Mapping[str, LocalFunction],
        *,
        host: str,
        port: int,
        site: Site | None = None,
    ) -> None:
        for route in routes:
            if route.authorizer not in CHECKED_AUTHORIZERS:
                raise UnsupportedTrigger(
                    f"{route.method} {route.path}: the local front cannot check the {route.authorizer} "
                    f"authorizer; it checks {', '.join(sorted(CHECKED_AUTHORIZERS))}"
                )
            if site is not None and any(_under(route.path, prefix) for prefix in site.prefixes):
                raise UnsupportedTrigger(f"{route.method} {route.path}: the local pages serve that path")
        self._site = site
        self._routes = sorted(
            (CompiledRoute(route) for route in routes), key=lambda compiled: compiled.precedence
        )
        self._functions = functions
        self._server = _Server((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-front", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiFront:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str
    ) -> Any:
        parts = urlsplit(target)
        lowered = {name.lower(): value for name, value in headers.items()}
        for compiled in self._routes:
            params = compiled.match(method, parts.path)
            if params is None:
                continue
            if compiled.route.path == DEFAULT_ROUTE and self._site is not None:
                # The site's paths come before $default, never before a route the template names.
                page = self._site.serve(method, parts.path, lowered, self.base_url)
                if page is not None:
                    return page
            if compiled.route.authorizer == "AWS_IAM":
                if self._site is not None:
                    lowered = self._site.signed(method, target, lowered, body, self.base_url) or lowered
                problem = signature_problem(method, target, lowered, body)
                if problem is not None:
                    # What API Gateway answers; the reason stays in the local log only.
                    log.info("refused %s %s: %s", method, parts.path, problem)
                    return {"statusCode": 403, "body": json.dumps({"message": "Forbidden"})}
            event = build_http_api_event(
                route=compiled.route,
                route_key=compiled.route_key,
                method=method,
                raw_path=parts.path,
                raw_query=parts.query,
                headers=lowered,
                body=body,
                path_parameters=params,
                source_ip=source_ip,
            )
            if compiled.route.authorizer == "AWS_IAM":
                event["requestContext"]["authorizer"] = {"iam": LOCAL_CALLER}
            return self._functions[compiled.route.function_id].invoke(event)
        if self._site is not None and (page := self._site.serve(method, parts.path, lowered, self.base_url)):
            return page
        return {"statusCode": 404, "body": json.dumps({"message": "Not Found"})}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive response.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length_header = self.headers.get("content-length") or "0"
                length = int(length_header) if length_header.isdigit() else -1
                if length < 0 or length > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._reply(
                        {"statusCode": 413, "body": json.dumps({"message": "Request Entity Too Large"})}
                    )
                    return
                body = self.rfile.read(length) if length else b""
                try:
                    result = front.dispatch(
                        self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
                    )
                except Exception:  # the function crashed: API Gateway answers a bare 500
                    result = {"statusCode": 500, "body": json.dumps({"message": "Internal Server Error"})}
                self._reply(result)

            def _reply(self, result: Any) -> None:
                if not isinstance(result, dict) or "statusCode" not in result:
                    result = {"statusCode": 200, "body": json.dumps(result)}
                payload = result.get("body") or ""
                if isinstance(payload, bytes):  # a page's file, as it is
                    data = payload
                elif result.get("isBase64Encoded"):
                    data = base64.b64decode(payload)
                else:
                    data = str(payload).encode()
                self.send_response(int(result["statusCode"]))
                headers = {"content-type": "application/json"}
                # Header names are case-insensitive: the function's Content-Type replaces the default.
                headers.update({name.lower(): value for name, value in (result.get("headers") or {}).items()})
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, str(value))
                for name, values in (result.get("multiValueHeaders") or {}).items():
                    for value in values:
                        self.send_header(name, str(value))
                for cookie in result.get("cookies") or []:
                    self.send_header("set-cookie", cookie)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler
