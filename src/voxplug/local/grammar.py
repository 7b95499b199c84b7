"""A llama.cpp GBNF grammar for one voice turn: a valid call of an offered tool, or plain speech.

``speech`` is one line of text without the characters of markdown, code or markup (``* # _ `
{ } [ ] < > | ~ \\``), so a reply can never be a list, a code span, a JSON object or a snake_case
name. ``call`` is ``{"name": ..., "arguments": ...}`` where the name is one of the offered tools
and the arguments follow that tool's JSON schema (llama-cpp-python's converter): no invented
tool, no missing or unknown argument. The JSON may stand alone, inside ``<tool_call>`` tags or in
a ```json fence: the packaged Qwen2.5-Coder puts most of its probability on the bare and fenced
forms (measured: P("<tool_call>" first) < 1e-9 for "What time is it?"), so forbidding them would
forbid calls. Which of speech or call comes out is the model's choice (greedy: its most likely
first token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .prompting import tool_name

__all__ = ["SPEECH_RULES", "arguments_grammar", "call_schema", "turn_grammar"]

# one line; the first character may not be a space either (a reply starts with a word)
SPEECH_RULES = r"""speech ::= speech-head speech-tail*
speech-head ::= [^<>\[\]{}`*#_|~\\ \t\r\n]
speech-tail ::= [^<>\[\]{}`*#_|~\\\t\r\n]
"""


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every object closed to the properties it declares (recursively)."""
    out = {k: v for k, v in schema.items() if k not in ("title", "default")}
    if out.get("type") == "object" or "properties" in out:
        out["type"] = "object"
        out["properties"] = {k: _closed(v) for k, v in (out.get("properties") or {}).items()}
        out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = _closed(out["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(out.get(key), list):
            out[key] = [_closed(s) for s in out[key]]
    return out


def call_schema(schemas: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON schema of ``{"name": ..., "arguments": ...}`` for any of the offered tools."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool_name(s)},
                "arguments": _closed(s.get("function", {}).get("parameters") or {"type": "object"}),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for s in schemas
    ]
    return options[0] if len(options) == 1 else {"oneOf": options}


def turn_grammar(schemas: Sequence[dict[str, Any]], *, require_call: bool = False) -> str:
    """GBNF whose root is ``speech``, or ``call | speech`` when tools are offered (``call`` alone
    with ``require_call``)."""
    if not schemas:
        return "root ::= speech\n" + SPEECH_RULES
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # the local-llm extra, present here

    call_json = json_schema_to_gbnf(json.dumps(call_schema(schemas)), prop_order=["name", "arguments"])
    # the converter names its top rule "root": ours wraps it in the tool-call tags
    call_json = re.sub(r"^root ::=", "call-json ::=", call_json, flags=re.MULTILINE)
    return (
        ("root ::= call\n" if require_call else "root ::= call | speech\n")
        + 'call ::= "<tool_call>" "\\n"? call-json "\\n"? "</tool_call>" | call-json '
        '| "```" "json"? "\\n"? call-json "\\n"? "```"\n'
        + SPEECH_RULES
        + call_json
    )


def arguments_grammar(schema: dict[str, Any]) -> str:
    """GBNF for the arguments object alone of one tool (``schema``: OpenAI-style), for a call whose
    ``{"name": ..., "arguments": `` the prompt already holds (see ``llama.build_prompt``)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # the local-llm extra, present here

    params = _closed(schema.get("function", {}).get("parameters") or {"type": "object"})
    return str(json_schema_to_gbnf(json.dumps(params)))
