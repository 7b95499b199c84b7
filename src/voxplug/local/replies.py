"""The last check before a local model's words are spoken: no markup, no talk about its machinery.

Text is released a clause at a time, with the space after it (the TTS speaks whole clauses
anyway, and the space lets it start on the clause at once), so a clause can be
checked before any of it is heard. Markdown and code formatting are removed. A clause that talks
about functions, JSON, APIs or names a snake_case identifier ("tool-speak": a 0.5B model's
favourite non-answer, "You can call the `current_time` function ...") flags the reply, and so
does a reply that says the user's own words back (an "echo"): the LLM stream then stops the
generation and asks again without tools (see ``llama``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = ["ECHO_FALLBACK", "FALLBACK_REPLY", "NUDGE", "SpeechGuard", "is_echo", "is_tool_speak", "strip_markup"]

# what the model is told when it is asked again after tool-speak or an echo
NUDGE = (
    "Answer the user's last message yourself, in plain spoken words. Do not mention functions, tools, "
    "code or JSON."
)
# said when the second answer is tool-speak too
FALLBACK_REPLY = "Sorry, I can't help with that."
# said when the second answer is an echo too: the words heard made no sense to the model
ECHO_FALLBACK = "Sorry, I didn't catch that. Could you say it again?"
# an echo: at least this many words, this close to the start of the user's message
_ECHO_WORDS = 4
_ECHO_RATIO = 0.8

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


def _spoken_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def is_echo(reply: str, request: str) -> bool:
    """``reply`` says ``request`` back, word for word or nearly: the packaged 0.5B model's answer
    to a request it cannot make sense of (Q1 voice: "The road rode the open and to hit." to a
    misheard "Who wrote Romeo and Juliet?", "Please set the timer for 10 minutes." to that
    request). A reply that only starts like the question ("The capital of Japan is Tokyo.") is not."""
    said, asked = _spoken_words(reply), _spoken_words(request)
    if len(said) < _ECHO_WORDS:
        return False
    return SequenceMatcher(None, said, asked[: len(said)], autojunk=False).ratio() >= _ECHO_RATIO


def strip_markup(text: str) -> str:
    """``text`` without markdown and code formatting, as one line."""
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text


class SpeechGuard:
    """Holds streamed text until a clause is complete, then releases it cleaned, or flags it:
    ``reason`` is "tool-speak" or "echo" (of ``request``, the user's message) once flagged."""

    def __init__(self, request: str = "") -> None:
        self._held = ""
        self._request = request
        self.flagged = False
        self.reason = ""
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
            self.flagged, self.reason = True, "tool-speak"
        return out

    def finish(self) -> str:
        """End of generation: the rest, if it is clean."""
        held, self._held = self._held, ""
        return "" if self.flagged else self._release(held)

    def _release(self, clause: str) -> str:
        cleaned = strip_markup(clause).strip()
        if is_tool_speak(clause) or is_tool_speak(cleaned):
            self.flagged, self.reason = True, "tool-speak"
            return ""
        if not cleaned:
            return ""
        # checked on all the reply so far: "Good morning!" may be said before the echo shows
        if self._request and is_echo(f"{self.released} {cleaned}", self._request):
            self.flagged, self.reason = True, "echo"
            return ""
        # the LLM's chunks are concatenated as they come: a clause keeps its trailing space
        out = cleaned + (" " if clause[-1:].isspace() else "")
        self.released += out
        return out
