"""The ``tools:`` section: HTTP tools, MCP servers and Python tools, by name.

Agents list the names they may use (``agent.tools``, ``agents.<name>.tools``) beside the
built-ins and the tools installed through the ``voxplug.tools`` entry point::

    tools:
      lookup_order:
        type: http
        description: Look up an order by its number.
        parameters:
          type: object
          properties: {order_id: {type: string, pattern: "^[0-9]{4,12}$"}}
          required: [order_id]
        method: GET
        url: https://orders.example.com/v1/orders/{order_id}
        headers: {Authorization: "Bearer ${ORDERS_TOKEN}"}
      calendar:
        type: mcp
        url: http://127.0.0.1:9000/mcp
      crm:
        type: python
        ref: acme_tools.crm:tools

Header values (and MCP ``env`` values) may name environment variables as ``${NAME}``: those
values become ``SecretStr`` (redacted in dumps, logs and errors). A literal value shaped like
a credential is refused: secrets belong in the environment, not in the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BeforeValidator, Field, SecretStr, ValidationInfo, field_validator, model_validator

from ..redaction import looks_like_secret, safe_repr
from ..signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from .base import REFERENCE, Strict

__all__ = [
    "ENV_REFERENCE",
    "HTTP_METHODS",
    "PLACEHOLDER",
    "TOOL_NAME",
    "HttpResponseConfig",
    "HttpSigningConfig",
    "HttpToolConfig",
    "McpToolConfig",
    "PythonToolConfig",
    "ToolSpec",
    "resolve_env_references",
    "split_origin",
    "url_placeholders",
]

# OpenAI, Anthropic and Google all accept this shape for function names
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")


def _env(info: ValidationInfo) -> Mapping[str, str]:
    context = info.context if isinstance(info.context, dict) else {}
    env = context.get("env")
    return env if isinstance(env, Mapping) else os.environ


def resolve_env_references(value: str, env: Mapping[str, str]) -> tuple[str, bool]:
    """``value`` with each ``${NAME}`` replaced by ``env[NAME]``; True if it named any.

    A reference to an unset (or empty) variable raises ``ValueError`` naming it.
    """
    missing = [name for name in ENV_REFERENCE.findall(value) if not env.get(name)]
    if missing:
        raise ValueError(f"environment variable {missing[0]} is not set; export it or remove ${{{missing[0]}}}")
    return ENV_REFERENCE.sub(lambda m: env[m.group(1)], value), bool(ENV_REFERENCE.search(value))


def _secret_values(raw: Any, info: ValidationInfo, *, what: str) -> Any:
    """Mapping values: ``${NAME}`` references become SecretStr, credential-shaped literals are refused."""
    if not isinstance(raw, Mapping):
        return raw
    env = _env(info)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, SecretStr) or not isinstance(value, str | int | float):
            out[key] = value  # already resolved (a re-validated dump), or a type error for pydantic
            continue
        text, referenced = resolve_env_references(str(value), env)
        if referenced:
            out[key] = SecretStr(text)
        elif looks_like_secret(text):
            raise ValueError(
                f"{what} {safe_repr(key, 40)} looks like a credential written in the file; put it in an environment "
                f"variable and write ${{NAME}} instead"
            )
        else:
            out[key] = text
    return out


def _headers(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, Mapping):
        bad = next((name for name in value if not HEADER_NAME.match(str(name))), None)
        if bad is not None:
            raise ValueError(f"header name {safe_repr(bad, 40)} is not a valid HTTP header name")
    return _secret_values(value, info, what="header")


def _env_values(value: Any, info: ValidationInfo) -> Any:
    return _secret_values(value, info, what="env value")


# str first: a plain value stays readable, only ${NAME} values become SecretStr
Headers = Annotated[dict[str, str | SecretStr], BeforeValidator(_headers)]
EnvValues = Annotated[dict[str, str | SecretStr], BeforeValidator(_env_values)]


# -- HTTP tools ------------------------------------------------------------------------------
def url_placeholders(url: str) -> list[str]:
    """The ``{name}`` placeholders of a URL template, in order."""
    return PLACEHOLDER.findall(url)


def split_origin(url: str) -> tuple[str, str]:
    """``("https://host:port", "/path?query")`` of a URL template; ValueError if malformed."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, target = rest[:end], rest[end:]
    if not authority or any(c in authority for c in "{}@ \\#"):
        raise ValueError(
            "the scheme, host and port must be literal (no {placeholders}, no user@, no spaces); "
            "put placeholders in the path or the query"
        )
    if "#" in target:
        raise ValueError("a URL fragment (#...) is never sent; remove it")
    return f"{scheme.lower()}://{authority}", target


class HttpSigningConfig(Strict):
    """HMAC-SHA256 signature of each request, as voxplug's webhooks sign theirs (docs/persistence.md)."""

    secret: SecretStr
    signature_header: str = SIGNATURE_HEADER
    timestamp_header: str = TIMESTAMP_HEADER

    @field_validator("secret", mode="before")
    @classmethod
    def _from_env(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            text, referenced = resolve_env_references(value, _env(info))
            if not referenced:
                raise ValueError("write the secret as ${NAME} and set the environment variable NAME")
            if len(text) < 16:
                raise ValueError("the signing secret must be at least 16 characters")
            return SecretStr(text)
        return value


class HttpResponseConfig(Strict):
    """What the LLM gets back: the JSON body (default) or one field of it as text."""

    # dotted path into the JSON body, e.g. "data.message"; unset = the whole body
    field: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    # longer results are cut: the LLM's context (and the conversation store) stay bounded
    max_chars: int = Field(default=4000, ge=100, le=100_000)
    # bodies larger than this are refused without reading further
    max_bytes: int = Field(default=1_000_000, ge=1_000, le=20_000_000)


class HttpToolConfig(Strict):
    """A tool that calls an HTTP endpoint with the arguments the LLM produced.

    Arguments named in the URL template fill its placeholders (percent-encoded: they can
    never change the scheme, host or port); the others go in the query string (GET, DELETE)
    or in the JSON body (POST, PUT, PATCH).
    """

    type: Literal["http"]
    description: str = Field(min_length=1, max_length=2000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(max_length=2000)
    headers: Headers = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0.0, le=120.0)
    signing: HttpSigningConfig | None = None
    # said (through the TTS) when the call has not answered after wait_after seconds
    wait_message: str | None = Field(default=None, max_length=500)
    wait_after: float = Field(default=1.0, ge=0.0, le=60.0)
    response: HttpResponseConfig = Field(default_factory=HttpResponseConfig)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_parameters_schema(value)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        split_origin(value)
        stray = re.sub(PLACEHOLDER, "", value)
        if "{" in stray or "}" in stray:
            raise ValueError("placeholders are written {name} with a parameter name (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _placeholders_are_parameters(self) -> HttpToolConfig:
        properties = self.parameters.get("properties", {})
        required = set(self.parameters.get("required", []))
        for name in url_placeholders(self.url):
            prop = properties.get(name)
            if prop is None:
                raise ValueError(f"url: placeholder {{{name}}} is not a parameter; add it to parameters.properties")
            if name not in required:
                raise ValueError(f"url: placeholder {{{name}}} must be listed in parameters.required")
            if prop.get("type") not in SCALAR_TYPES:
                raise ValueError(
                    f"url: placeholder {{{name}}} must be a string, integer, number or boolean parameter"
                )
        return self

    @property
    def sends_body(self) -> bool:
        return self.method in BODY_METHODS

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the URL: fixed whatever the arguments."""
        return split_origin(self.url)[0]


def check_parameters_schema(schema: dict[str, Any]) -> None:
    """A tool's JSON Schema: an object schema that is itself valid JSON Schema."""
    if schema.get("type") != "object":
        raise ValueError('must be a JSON Schema with type: object (e.g. {type: object, properties: {...}})')
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError("properties must map each parameter name to its schema")
    bad = next((name for name in properties if not TOOL_NAME.match(str(name))), None)
    if bad is not None:
        raise ValueError(f"parameter name {bad!r} must be letters, digits and _ (starting with a letter)")
    missing = [name for name in schema.get("required", []) if name not in properties]
    if missing:
        raise ValueError(f"required names {missing[0]!r}, which is not in properties")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(top)"
        raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None


# -- MCP servers -----------------------------------------------------------------------------
class McpToolConfig(Strict):
    """An MCP server whose tools the agent may call: streamable HTTP / SSE (``url``) or stdio (``command``)."""

    type: Literal["mcp"]
    url: str | None = Field(default=None, max_length=2000)
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    headers: Headers = Field(default_factory=dict)
    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: EnvValues = Field(default_factory=dict)
    cwd: str | None = None
    # empty = every tool the server lists
    allowed_tools: list[str] = Field(default_factory=list)
    # seconds to connect and list tools, and for each tool call
    timeout: float = Field(default=10.0, gt=0.0, le=300.0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            split_origin(value)
            if "{" in value:
                raise ValueError("an MCP server URL takes no placeholders")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpToolConfig:
        if (self.url is None) == (self.command is None):
            raise ValueError("give exactly one of url (streamable HTTP or SSE) or command (stdio)")
        if self.command is None and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd apply to a stdio server (command); remove them or set command")
        if self.url is None and self.headers:
            raise ValueError("headers apply to an HTTP server (url); pass credentials to a stdio server in env")
        return self


# -- Python tools ----------------------------------------------------------------------------
class PythonToolConfig(Strict):
    """Tools from an installed package: ``module:attribute`` naming a function tool, a list of
    them, a ``Toolset``, or a factory returning one of those (called with ``options``)."""

    type: Literal["python"]
    ref: str = Field(max_length=300)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not re.match(REFERENCE, value):
            raise ValueError("must be 'package.module:attribute' (e.g. acme_tools.crm:lookup_customer)")
        return value


ToolSpec = Annotated[HttpToolConfig | McpToolConfig | PythonToolConfig, Field(discriminator="type")]
