"""What a small local model is shown: a voice prompt, a few examples, and only the tools a turn needs.

A 0.5B model offered tools it does not need talks about them ("You can call the
``current_time`` function ...") instead of answering: measured with ``benchmarks/q1_reply_quality.py``,
9 of 23 replies with both built-in tools always in the prompt. So each turn offers only the tools
whose trigger words the user's message contains, and the tool descriptions come right before that
message instead of in the system prompt: the system prompt, the examples and the history then
stay one fixed prefix that llama.cpp keeps evaluated from turn to turn (its KV cache), whatever
tools a turn offers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "BUILTIN_TRIGGERS",
    "FEW_SHOT",
    "NUMBER_LANGUAGES",
    "VOICE_RULES",
    "digits_for_number_words",
    "relevant_tools",
    "tool_name",
    "tools_message",
    "voice_messages",
]

VOICE_RULES = """\
Everything you write is read aloud to the user by a speech synthesizer. So:
- Answer the question directly, in one or two short sentences.
- Use plain spoken words only: no lists, no markdown, no code, no emojis.
- Never mention functions, tools, code, JSON or how you work.
- If you cannot do what the user asks, say so in one short sentence and suggest what they can do."""

# Example turns after the system prompt: a small model copies the length and tone of what it
# has just seen far more reliably than it follows rules. None of them is about a topic of the
# quality benchmark's requests.
FEW_SHOT: tuple[tuple[str, str], ...] = (
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("Can you book me a flight to Rome?",
     "Sorry, I can't book flights. An airline's website or a travel app can do that for you."),
    ("Any tip for sleeping better?",
     "Try going to bed at the same time every night, and keep screens out of the bedroom."),
)

_NUMBER = re.compile(
    r"\b(?:\d+(?:[.,]\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million|half|quarter)\b",
    re.IGNORECASE,
)
_ARITHMETIC = re.compile(
    r"\b(?:plus|minus|times|multipl\w*|divid\w*|over|percent|squared?|square root|cubed?|sum|product|"
    r"average|add|subtract\w*|calculate|compute)\b|\d\s*[-+*/x\u00d7\u00f7^]\s*\d|\d\s*%",
    re.IGNORECASE,
)
_TIME = re.compile(r"\b(?:time|time ?zones?|clock|date|weekday|o'?clock)\b", re.IGNORECASE)
# a calendar word asks for the time only as the question's subject: "what day is it", "which
# month are we in", "the current hour", not "how many days are in a leap year" (with
# require_call a false trigger forces a wrong call)
_CALENDAR = re.compile(
    r"\b(?:what|which|current|this)\W+(?:day|week|month|year|hour)\b"
    r"|\b(?:day|week|month|year|hour)\W+(?:is\W+it|is\W+today|are\W+we|of\W+the\W+week)\b"
    r"|\btoday'?s\W+(?:day|date)\b",
    re.IGNORECASE,
)

# Trigger words of voxplug's built-in tools (core.tools); other tools are matched on the words of
# their name and description (see relevant_tools).
BUILTIN_TRIGGERS: dict[str, Callable[[str], bool]] = {
    "current_time": lambda text: _TIME.search(text) is not None or _CALENDAR.search(text) is not None,
    # a number and an operation: "twelve times seven", "15% of 80", "144 / 12"
    "calculate": lambda text: _NUMBER.search(text) is not None and _ARITHMETIC.search(text) is not None,
}
_STOPWORDS = frozenset((
    "and", "are", "can", "does", "for", "from", "get", "gets", "given", "how", "into", "its", "set", "sets",
    "the", "their", "this", "use", "used", "uses", "using", "what", "when", "where", "which", "who", "why",
    "will", "with", "you", "your",
))


def tool_name(schema: dict[str, Any]) -> str:
    """The name in an OpenAI-style tool schema ({"type": "function", "function": {"name": ...}})."""
    return str(schema.get("function", {}).get("name", ""))


def _stem(word: str) -> str:
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("es", ""), ("ed", ""), ("s", "")):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOPWORDS and len(w) > 2}


def _is_relevant(schema: dict[str, Any], text: str) -> bool:
    name = tool_name(schema)
    trigger = BUILTIN_TRIGGERS.get(name)
    if trigger is not None:
        return trigger(text)
    description = str(schema.get("function", {}).get("description", "")).split("\n")[0]
    return bool(_words(f"{name.replace('_', ' ')} {description}") & _words(text))


def relevant_tools(schemas: Sequence[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The tools whose trigger words (built-ins) or name/description words (others) ``text`` uses."""
    return [s for s in schemas if _is_relevant(s, text)]


def _tool_line(schema: dict[str, Any]) -> str:
    """One tool in a line: name, what it does, its arguments (type, optional, description)."""
    fn = schema.get("function", {})
    description = " ".join(str(fn.get("description") or "").split())
    params = fn.get("parameters") or {}
    required = set(params.get("required") or ())
    args = []
    for name, prop in (params.get("properties") or {}).items():
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        about = " ".join(str(prop.get("description") or "").split()) if isinstance(prop, dict) else ""
        if name in required:
            need = ""
        elif isinstance(prop, dict) and "default" in prop:  # shown: else the model fills in an example
            need = f", default {json.dumps(prop['default'], ensure_ascii=False)}"
        else:
            need = ", optional"
        args.append(f"{name} ({kind}{need}){': ' + about if about else ''}")
    return f"- {tool_name(schema)}: {description}" + (f" Arguments: {'; '.join(args)}" if args else "")


def tools_message(schemas: Iterable[dict[str, Any]], *, forced: bool = False) -> dict[str, Any]:
    """A system message describing ``schemas``, a line per tool, with Qwen2.5's call format.

    Not the JSON schemas themselves: 85 prompt tokens instead of 148 for ``current_time``
    (46 with ``forced``), each evaluated on every turn that offers the tool at ~11 ms a token on
    two cores; the grammar holds the call to the schema anyway.
    """
    lines = "\n".join(_tool_line(s) for s in schemas)
    if forced:  # the call's start is in the prompt already: only what its arguments mean
        return {"role": "system", "content": f"For the next message, call this function:\n{lines}"}
    return {
        "role": "system",
        "content": (
            f"For the next message you may call a function when the request needs it:\n{lines}\n"
            'To call one, reply only with <tool_call>{"name": <function-name>, "arguments": <args-json-object>}'
            "</tool_call>. Otherwise answer in plain spoken words."
        ),
    }


# the languages text2num reads number words in
NUMBER_LANGUAGES = frozenset(("en", "fr", "es", "pt", "de", "nl", "it", "da"))


def digits_for_number_words(text: str, language: str) -> str:
    """``text`` with its spelled-out numbers as digits: "Divide one hundred and forty four by
    twelve." -> "Divide 144 by 12.". A lone small number stays a word ("one moment", "a second").

    The packaged 0.5B model turns number words into a tool's arguments badly: asked that, it
    called ``calculate("124 / 104")`` (benchmarks/q1_reply_quality.py, text mode); Whisper writes
    digits already, typed and console text need this.
    """
    # the local-llm extra (text2num): voxplug.local imports without its extras installed
    from text_to_num import alpha2digit

    return str(alpha2digit(text, language))


def voice_messages(
    messages: list[dict[str, Any]], schemas: Sequence[dict[str, Any]], *, forced: bool = False,
    numbers: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """The voice prompt around template messages: rules in the system message, the examples after
    it, ``schemas`` described just before the last user message, the user's number words as digits
    when ``numbers`` names their language. Returns the messages and how many leading ones must
    never be dropped to fit the context (the system prompt and the examples)."""
    out = [dict(m) for m in messages]
    if numbers:  # every user message, not only the last: the prompt's prefix stays the same from turn to turn
        for m in out:
            if m["role"] == "user" and isinstance(m.get("content"), str):
                m["content"] = digits_for_number_words(m["content"], numbers)
    if out and out[0]["role"] == "system":
        out[0]["content"] = f"{out[0]['content']}\n\n{VOICE_RULES}".strip()
    else:
        out.insert(0, {"role": "system", "content": VOICE_RULES})
    examples = [
        {"role": role, "content": text}
        for question, answer in FEW_SHOT
        for role, text in (("user", question), ("assistant", answer))
    ]
    out[1:1] = examples
    if schemas:
        last_user = max((i for i, m in enumerate(out) if m["role"] == "user"), default=len(out))
        out.insert(last_user, tools_message(schemas, forced=forced))
    return out, 1 + len(examples)
