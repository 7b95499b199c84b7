"""The last check before a local model's words are spoken: no markup, no talk about its machinery.

Text is released a clause at a time, with the space after it (the TTS speaks whole clauses
anyway, and the space lets it start on the clause at once), so a clause can be
checked before any of it is heard. Markdown and code formatting are removed. A clause that talks
about functions, JSON, APIs or names a snake_case identifier ("tool-speak": a 0.5B model's
favourite non-answer, "You can call the `current_time` function ...") flags the reply: the LLM
stream then stops the generation and asks again without tools (see ``llama``).
"""

from __future__ import annotations

import re

__all__ = ["FALLBACK_REPLY", "NUDGE", "SpeechGuard", "is_tool_speak", "strip_markup"]

# what the model is told when it is asked again after tool-speak
NUDGE = (
    "Answer the user's last message yourself, in plain spoken words. Do not mention functions, tools, "
    "code or JSON."
)
# said when the second answer is tool-speak too
FALLBACK_REPLY = "Sorry, I can't help with that."

_TOOL_SPEAK = re.compile(
    r"\bfunctions?\b|\bjson\b|\bapis?\b|\btool[ _]?calls?\b|<\s*/?\s*tool|\b[a-z]+_[a-z_]+\b|`",
    re.IGNORECASE,
)
_MARKUP = (
    (re.compile(r"`{3}[a-zA-Z0-9_-]*"), " "),  # code fences
    (re.compile(r"(?m)^\s*(?:(?:[-*+\u2022]|\d+[.)])\s+)+"), ""),  # list markers
    (re.compile(r"(?m)^\s*#+\s*"), ""),  # headings
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links: keep the text
    (re.compile(r"[*`#|~\[\]{}<>]+|(?<!\w)_+|_+(?!\w)"), ""),  # emphasis, code, tables, brackets
    (re.compile(r"\s*\n\s*"), " "),  # one spoken paragraph
)
# a clause ends at punctuation followed by a space, released with it: LiveKit's markdown filter
# (on the TTS's input) passes the punctuation on only once it has seen the next character, so
# without the space the clause waited for the next one (P3 trace: 0.13 s, a clause of tokens)
_CLAUSE_END = re.compile(r"[.!?;:,]\s")


def is_tool_speak(text: str) -> bool:
    return _TOOL_SPEAK.search(text) is not None


def strip_markup(text: str) -> str:
    """``text`` without markdown and code formatting, as one line."""
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text


class SpeechGuard:
    """Holds streamed text until a clause is complete, then releases it cleaned, or flags it."""

    def __init__(self) -> None:
        self._held = ""
        self.flagged = False
        self.released = ""

    def feed(self, text: str) -> str:
        """Add generated text; return what can be spoken now ("" once flagged)."""
        if self.flagged:
            return ""
        self._held += text
        ends = [m.end() for m in _CLAUSE_END.finditer(self._held)]
        out = ""
        if ends:
            clause, self._held = self._held[: ends[-1]], self._held[ends[-1]:]
            out = self._release(clause)
        if not self.flagged and is_tool_speak(self._held):  # no need to wait for the clause's end
            self.flagged = True
        return out

    def finish(self) -> str:
        """End of generation: the rest, if it is clean."""
        held, self._held = self._held, ""
        return "" if self.flagged else self._release(held)

    def _release(self, clause: str) -> str:
        cleaned = strip_markup(clause).strip()
        if is_tool_speak(clause) or is_tool_speak(cleaned):
            self.flagged = True
            return ""
        if not cleaned:
            return ""
        # the LLM's chunks are concatenated as they come: a clause keeps its trailing space
        out = cleaned + (" " if clause[-1:].isspace() else "")
        self.released += out
        return out
