"""The last check before a local model's words are spoken: no markup, no talk about its machinery.

Text is released a clause at a time, with the space after it (the TTS speaks whole clauses
anyway, and the space lets it start on the clause at once), so a clause can be
checked before any of it is heard. Markdown and code formatting are removed. A clause that talks
about functions, JSON, APIs or names a snake_case identifier ("tool-speak": a 0.5B model's
favourite non-answer, "You can call the `current_time` function ...") flags the reply, and so
does a reply that says the user's own words back (an "echo"): the LLM stream then stops the
generation and asks again without tools (see ``llama``). So does a reply that pretends: one that
claims to do something in the world with no tool called this turn ("Sure, I can set a timer for
10 minutes."), or answers a question about live information (weather, news, prices) with no tool
to get it ("The weather is sunny today."); that one is asked again with its first words given,
``REFUSAL_OPENINGS``, which the 0.5B model finishes as a refusal with a suggestion where a
system-message nudge did not move it (measured: "Sorry, I can't" -> " set a timer.",
"Sorry, I can't check" -> " the weather. You can check it online or in a weather app.").
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = [
    "ECHO_FALLBACK",
    "FALLBACK_REPLY",
    "NUDGE",
    "REFUSAL_OPENINGS",
    "SpeechGuard",
    "asks_live_information",
    "claims_an_action",
    "is_echo",
    "is_tool_speak",
    "spelled_out",
    "strip_markup",
]

# what the model is told when it is asked again after tool-speak or an echo
NUDGE = (
    "Answer the user's last message yourself, in plain spoken words. Do not mention functions, tools, "
    "code or JSON."
)
# said when the second answer is tool-speak too
FALLBACK_REPLY = "Sorry, I can't help with that."
# said when the second answer is an echo too: the words heard made no sense to the model
ECHO_FALLBACK = "Sorry, I didn't catch that. Could you say it again?"
# the first words of the second answer to a reply that pretended, by the guard's reason
REFUSAL_OPENINGS = {"action": "Sorry, I can't", "live": "Sorry, I can't check"}
# an echo: at least this many words, this close to the start of the user's message
_ECHO_WORDS = 4
_ECHO_RATIO = 0.8

_TOOL_SPEAK = re.compile(
    r"\bfunctions?\b|\bjson\b|\bapis?\b|\btool[ _]?calls?\b|<\s*/?\s*tool|\b[a-z]+_[a-z_]+\b|`|"
    # a JSON object: '{"name": ' was spoken as "name" before the tool's name flagged the reply
    r"\{\s*\"",
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


# "I can set a timer", "I'll book it", "I've sent the message", "Setting a timer": the speaker
# doing something in the world. Not "I can help" (no action), nor "you can call them" (the user).
_ACTION_VERBS = (
    r"set|book|schedule|reschedule|move|cancel|order|send|call|text|email|message|remind|add|create|"
    r"reserve|play|turn|buy|pay|transfer|change|update|track|start|stop|open|close|save|delete|notify|"
    r"contact|forward|arrange|register|sign|sent|bought|paid"
)
_ACTION_CLAIM = re.compile(
    rf"\b(?:i(?:'ll|'ve| will| have| can| am going to|'m going to| just)?(?: now)?|let me)\s+(?:{_ACTION_VERBS})"
    r"(?:s|d|ed|t)?\b",
    re.IGNORECASE,
)
# a question about what is happening now, which only a tool could answer; not one about how
# things are in general ("What is a stock?", "What's the weather usually like in May?")
_LIVE_TOPIC = re.compile(
    r"\b(?:weather|forecast|temperature outside|raining|snowing|news|headlines|traffic|exchange rate|"
    r"(?:stock|share|bitcoin) prices?|price of|the scores?)\b",
    re.IGNORECASE,
)
_IN_GENERAL = re.compile(r"\b(?:usually|typically|generally|in general|on average|climate)\b", re.IGNORECASE)
_QUESTION = re.compile(r"\?|\b(?:what|what's|how|is|are|will|any|tell me|check|give me)\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:can't|cannot|can not|unable|not able|don't have|do not have|no access|sorry)\b", re.IGNORECASE,
)
# an opening word is held until the next clause, which may flag the reply: "Sure," must not be
# spoken before "I can set a timer for 10 minutes." is stopped
_OPENER = re.compile(
    r"\s*(?:sure|okay|ok|of course|certainly|absolutely|alright|all right|yes|yeah|no problem)\W*", re.IGNORECASE,
)


# "Can you spell the word necessary?", "How do you spell 'rhythm'?", "How is Wednesday spelled?"
_SPELL_REQUEST = (
    re.compile(r"\bspell(?:\s+out)?(?:\s+the\s+(?:word|name))?\s+[\"'\u2018\u201c]?([a-z]+)\b", re.IGNORECASE),
    re.compile(r"\bhow\s+is\s+(?:the\s+word\s+)?[\"'\u2018\u201c]?([a-z]+)[\"'\u2019\u201d]?\s+spel(?:led|t)\b",
               re.IGNORECASE),
)
# what follows "spell" without being the word to spell: "spell it", "spell my name", "spell out"
_NOT_SPELLED = frozenset({
    "a", "an", "the", "it", "that", "this", "these", "those", "them", "me", "my", "your", "his", "her", "its",
    "our", "their", "something", "anything", "everything", "words", "word", "name", "names", "out", "for",
    "please", "correctly", "check", "how", "what",
})
_SPELLED_MAX = 30  # letters: no English word is longer, and the reply stays short


def spelled_out(request: str) -> str:
    """The reply to a request to spell a word, letter by letter ("Necessary is spelled N, E, C, E,
    S, S, A, R, Y."), or "" when ``request`` asks for none. The packaged 0.5B model sees tokens,
    not letters: asked to spell "necessary", it spelled "spider" from its examples, whatever it
    was told (Q1); given these words as the reply's opening it only has to stop."""
    for pattern in _SPELL_REQUEST:
        for match in pattern.finditer(request):
            word = match.group(1)
            if word.lower() not in _NOT_SPELLED and 1 < len(word) <= _SPELLED_MAX:
                return f"{word.capitalize()} is spelled {', '.join(word.upper())}."
    return ""


def claims_an_action(text: str) -> bool:
    """``text`` has the speaker doing something in the world: "Sure, I can set a timer."."""
    return _ACTION_CLAIM.search(text) is not None


def asks_live_information(request: str) -> bool:
    """``request`` asks about something happening now: the weather, the news, prices, scores."""
    return bool(_LIVE_TOPIC.search(request) and _QUESTION.search(request) and not _IN_GENERAL.search(request))


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
    ``reason`` is "tool-speak", "echo" (of ``request``, the user's message), "action" or "live"
    once flagged. ``tools_used``: a tool ran this turn, so a reply may report what it did."""

    def __init__(self, request: str = "", *, tools_used: bool = False) -> None:
        self._held = ""
        self._request = request
        self._pretending_checked = not tools_used
        self._live = not tools_used and asks_live_information(request)
        self.flagged = False
        self.reason = ""
        self.released = ""

    def feed(self, text: str) -> str:
        """Add generated text; return what can be spoken now ("" once flagged)."""
        if self.flagged:
            return ""
        self._held += text
        ends = [m.end() for m in _CLAUSE_END.finditer(self._held)]
        if ends and not self.released and _OPENER.fullmatch(self._held[: ends[-1]]):
            ends = []
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
        if self._pretending_checked and not _REFUSAL.search(f"{self.released} {cleaned}"):
            if claims_an_action(cleaned):
                self.flagged, self.reason = True, "action"
                return ""
            if self._live:
                self.flagged, self.reason = True, "live"
                return ""
        # the LLM's chunks are concatenated as they come: a clause keeps its trailing space
        out = cleaned + (" " if clause[-1:].isspace() else "")
        self.released += out
        return out
