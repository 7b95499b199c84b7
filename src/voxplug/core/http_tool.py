"""HTTP tools: the LLM's arguments, checked against the tool's JSON Schema, sent to a URL.

The arguments are untrusted (the LLM repeats whatever the caller said). They are validated
against ``parameters``, placed in the URL only percent-encoded (so they never change the
scheme, host or port, nor add a path segment or query parameter), and the request follows
no redirect. Every failure -- invalid arguments, timeout, connection error, HTTP error, an
oversized or malformed answer -- becomes a ``ToolError`` the agent can speak about.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from livekit.agents import RunContext, ToolError, function_tool
from livekit.agents.llm import RawFunctionTool
from pydantic import SecretStr
from yarl import URL

from ..config.tools import PLACEHOLDER, HttpResponseConfig, HttpToolConfig, split_origin, url_placeholders
from ..redaction import Redactor
from ..signing import sign

__all__ = ["HttpRequest", "build_http_tool", "format_response", "render_request"]

logger = logging.getLogger(__name__)

# the JSON of one call's arguments; a model that writes more is not asking a real question
MAX_ARGUMENTS_CHARS = 16_000


class HttpRequest:
    """What one call sends: method, URL, body (bytes or None) and the signed target."""

    def __init__(self, method: str, url: str, body: bytes | None, target: str) -> None:
        self.method, self.url, self.body, self.target = method, url, body, target


def _text(value: Any) -> str:
    """A JSON value as it appears in a URL: scalars plainly, containers as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _segment(name: str, value: Any) -> str:
    text = _text(value)
    if text in ("", ".", ".."):
        # "." and ".." would walk the server's path: the one thing encoding does not stop
        raise ToolError(f"argument {name!r} cannot be empty, '.' or '..'")
    return quote(text, safe="")


def render_request(cfg: HttpToolConfig, arguments: Mapping[str, Any]) -> HttpRequest:
    """The request for ``arguments`` (already validated): the URL's origin is the template's."""
    origin, target = split_origin(cfg.url)
    in_url = set(url_placeholders(cfg.url))
    target = PLACEHOLDER.sub(lambda m: _segment(m.group(1), arguments[m.group(1)]), target)
    rest = {k: v for k, v in arguments.items() if k not in in_url}
    body: bytes | None = None
    if cfg.sends_body:
        body = json.dumps(rest, separators=(",", ":"), ensure_ascii=False).encode()
    elif rest:
        pairs = [(k, _text(item)) for k, v in rest.items() for item in (v if isinstance(v, list) else [v])]
        target += ("&" if "?" in target else "?") + urlencode(pairs, quote_via=quote)
    return HttpRequest(cfg.method, origin + target, body, target or "/")


def _field(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise KeyError(path)
    return data


def format_response(name: str, cfg: HttpResponseConfig, raw: bytes) -> str:
    """The text the LLM gets: the JSON body (compact), or the ``field`` of it, cut to ``max_chars``."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        data: Any = json.loads(text) if text else None
        is_json = bool(text)
    except ValueError:
        data, is_json = None, False
    if cfg.field is not None:
        if not is_json:
            raise ToolError(f"{name}: the service did not answer with JSON")
        try:
            value = _field(data, cfg.field)
        except KeyError:
            raise ToolError(f"{name}: the answer has no field {cfg.field!r}") from None
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    elif is_json:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if not text:
        return "done (the service returned no content)"
    return text if len(text) <= cfg.max_chars else text[: cfg.max_chars] + "…"


def _header_value(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class _HttpTool:
    """The call behind one configured HTTP tool."""

    def __init__(self, name: str, cfg: HttpToolConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.validator = Draft202012Validator(cfg.parameters)
        secrets = [_header_value(v) for v in cfg.headers.values() if isinstance(v, SecretStr)]
        if cfg.signing is not None:
            secrets.append(cfg.signing.secret.get_secret_value())
        # a service that echoes a credential back must not hand it to the LLM or the store
        self.redact = Redactor(secrets, shapes=False)

    def check_arguments(self, arguments: Any) -> dict[str, Any]:
        if not isinstance(arguments, dict):
            raise ToolError(f"{self.name}: arguments must be a JSON object")
        if len(json.dumps(arguments, default=str)) > MAX_ARGUMENTS_CHARS:
            raise ToolError(f"{self.name}: arguments are too long")
        error = best_match(self.validator.iter_errors(arguments))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "arguments"
            raise ToolError(f"{self.name}: invalid {where}: {error.message[:200]}")
        return arguments

    def headers(self, request: HttpRequest) -> dict[str, str]:
        headers = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.1"}
        headers |= {k: _header_value(v) for k, v in self.cfg.headers.items()}
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
        signing = self.cfg.signing
        if signing is not None:
            ts = int(time.time())
            # a request without a body signs its target (path and query) instead
            signed = request.body if request.body is not None else request.target.encode()
            headers[signing.timestamp_header] = str(ts)
            headers[signing.signature_header] = sign(signing.secret.get_secret_value(), ts, signed)
        return headers

    async def send(self, request: HttpRequest) -> bytes:
        limit = self.cfg.response.max_bytes
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.request(
                    # sent as rendered (yarl would re-normalise the escapes, breaking the signature)
                    request.method, URL(request.url, encoded=True), data=request.body, headers=self.headers(request),
                    allow_redirects=False,
                ) as resp,
            ):
                raw = await resp.content.read(limit + 1)
                status = resp.status
        except TimeoutError:
            raise ToolError(f"{self.name}: the service did not answer within {self.cfg.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            logger.warning("tool %s: %s %s failed: %s", self.name, request.method, split_origin(self.cfg.url)[0],
                           type(exc).__name__)
            raise ToolError(f"{self.name}: the service cannot be reached right now") from None
        if status >= 300:
            logger.warning("tool %s: HTTP %d", self.name, status)
            raise ToolError(f"{self.name}: the service answered with HTTP status {status}")
        if len(raw) > limit:
            raise ToolError(f"{self.name}: the answer is larger than {limit} bytes")
        return raw

    async def __call__(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> str:
        request = render_request(self.cfg, self.check_arguments(raw_arguments))
        async with self._waiting(context):
            raw = await self.send(request)
        return self.redact(format_response(self.name, self.cfg.response, raw))

    @contextlib.asynccontextmanager
    async def _waiting(self, context: RunContext[Any] | None) -> AsyncIterator[None]:
        """Speak ``wait_message`` if the call is still running after ``wait_after`` seconds."""
        if not self.cfg.wait_message or context is None:
            yield
            return
        async with context.with_filler(self.cfg.wait_message, delay=self.cfg.wait_after):
            yield


def build_http_tool(name: str, cfg: HttpToolConfig) -> RawFunctionTool[..., Any]:
    """A LiveKit raw function tool named ``name`` offering ``cfg.parameters`` to the LLM."""
    tool = _HttpTool(name, cfg)

    async def call(raw_arguments: dict[str, Any], context: RunContext[Any]) -> str:
        return await tool(raw_arguments, context)

    return function_tool(
        call, raw_schema={"name": name, "description": cfg.description, "parameters": cfg.parameters}
    )
