"""The voice prompt, tool relevance, the GBNF grammar and the reply guard (no model needed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from livekit.agents import llm
from livekit.agents.voice.transcription.filters import filter_markdown

from voxplug.core.tools import calculate, current_time
from voxplug.local.grammar import call_schema, turn_grammar
from voxplug.local.llama import LlamaOptions
from voxplug.local.piper import ClauseTokenizer
from voxplug.local.prompting import (
    FEW_SHOT,
    VOICE_RULES,
    digits_for_number_words,
    relevant_tools,
    tools_message,
    voice_messages,
)
from voxplug.local.replies import (
    SpeechGuard,
    asks_live_information,
    claims_an_action,
    is_echo,
    is_tool_speak,
    spelled_out,
    strip_markup,
)
from voxplug.local.whisper import encoder_frames

BUILTINS = llm.ToolContext([current_time, calculate]).parse_function_tools("openai", strict=False)
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_forecast",
        "description": "Get the weather forecast for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def names(schemas: list[dict[str, Any]]) -> list[str]:
    return [s["function"]["name"] for s in schemas]


# phrasings of our own, not the quality benchmark's requests
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Could you tell me the current hour?", ["current_time"]),
        ("which month are we in", ["current_time"]),
        ("What year is it now?", ["current_time"]),
        ("How many weeks are in a year?", []),  # calendar words, but not asking for the date
        ("what's seven plus five", ["calculate"]),
        ("How much is 20% of 50?", ["calculate"]),
        ("what is 81 / 9", ["calculate"]),
        ("I have two cats and a dog.", []),  # a number, but nothing to compute
        ("Tell me a story about a dragon.", []),
        ("", []),
    ],
)
def test_builtin_tools_are_offered_only_when_the_request_calls_for_them(text: str, expected: list[str]) -> None:
    assert names(relevant_tools(BUILTINS, text)) == expected


def test_other_tools_match_on_the_words_of_their_name_and_description() -> None:
    assert names(relevant_tools([WEATHER], "What's the forecast for Lisbon?")) == ["get_forecast"]
    assert names(relevant_tools([WEATHER], "Which cities are in Portugal?")) == ["get_forecast"]  # city ~ cities
    assert relevant_tools([WEATHER], "Sing me a song.") == []


def test_voice_messages_add_rules_examples_and_the_tools_before_the_users_message() -> None:
    history = [
        {"role": "system", "content": "Be nice."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What time is it?"},
    ]
    out, keep = voice_messages(history, BUILTINS[:1])
    assert out[0]["role"] == "system" and out[0]["content"].startswith("Be nice.")
    assert VOICE_RULES in out[0]["content"]
    assert keep == 1 + 2 * len(FEW_SHOT)
    assert [m["content"] for m in out[1:keep:2]] == [q for q, _ in FEW_SHOT]
    assert out[-2] == tools_message(BUILTINS[:1]) and out[-1] == history[-1]
    assert history[0]["content"] == "Be nice."  # the input is not modified
    without, _ = voice_messages(history, [])
    assert all("<tools>" not in m["content"] for m in without)


_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _spelled(n: int) -> str:
    """An English number as people say it (British "and" included), below a million."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else f" {_ONES[n % 10]}")
    if n < 1000:
        return f"{_ONES[n // 100]} hundred" + ("" if n % 100 == 0 else f" and {_spelled(n % 100)}")
    return f"{_spelled(n // 1000)} thousand" + ("" if n % 1000 == 0 else f" {_spelled(n % 1000)}")


@given(st.integers(min_value=4, max_value=999_999), st.integers(min_value=4, max_value=99))
def test_spoken_numbers_reach_the_model_as_digits(a: int, b: int) -> None:
    assert digits_for_number_words(f"Divide {_spelled(a)} by {_spelled(b)}.", "en") == f"Divide {a} by {b}."


def test_lone_small_numbers_and_other_words_stay_words() -> None:
    for text in ("One moment, please.", "Give me a second.", "Can you spell the word necessary for me?",
                 "Which one is mine?", "Move it to Friday."):
        assert digits_for_number_words(text, "en") == text


def test_the_voice_prompt_shows_every_user_message_with_digits() -> None:
    history = [
        {"role": "user", "content": "What is twenty three times seventeen?"},
        {"role": "assistant", "content": "Twenty three times seventeen is 391."},
        {"role": "user", "content": "And fifteen percent of eighty?"},
    ]
    out, keep = voice_messages(history, BUILTINS[1:], numbers="en")
    assert [m["content"] for m in out[keep:] if m["role"] == "user"] == [
        "What is 23 times 17?", "And 15 percent of 80?"]
    assert out[keep + 1]["content"] == history[1]["content"]  # the agent's own words are left as said
    same, _ = voice_messages(history, BUILTINS[1:])
    assert next(m["content"] for m in same[keep:] if m["role"] == "user") == history[0]["content"]
    with pytest.raises(ValueError, match="spoken_numbers"):
        LlamaOptions(spoken_numbers="xx")


def test_voice_messages_without_a_system_message_start_with_the_rules() -> None:
    out, keep = voice_messages([{"role": "user", "content": "Hi"}], [])
    assert out[0] == {"role": "system", "content": VOICE_RULES}
    assert out[keep:] == [{"role": "user", "content": "Hi"}]


def test_the_call_schema_is_closed_to_the_tools_parameters() -> None:
    schema = call_schema(BUILTINS)
    options = schema["oneOf"]
    assert [o["properties"]["name"]["const"] for o in options] == ["current_time", "calculate"]
    args = options[0]["properties"]["arguments"]
    assert args["additionalProperties"] is False
    assert "title" not in args and "default" not in args["properties"]["timezone"]
    assert call_schema(BUILTINS[:1])["properties"]["name"] == {"const": "current_time"}


def test_the_grammar_offers_speech_alone_without_tools_and_names_each_offered_tool() -> None:
    speech_only = turn_grammar([])
    assert speech_only.startswith("root ::= speech\n") and "call" not in speech_only
    grammar = turn_grammar(BUILTINS)
    assert grammar.startswith("root ::= call | speech\n")
    assert '"\\"current_time\\""' in grammar and '"\\"calculate\\""' in grammar
    rules = {line.split(" ::= ")[0] for line in grammar.splitlines() if " ::= " in line}
    assert {"root", "call", "call-json", "speech"} <= rules
    # every rule that is used is defined
    used = set(re.findall(r"(?<![\w\"-])([a-z][a-z0-9-]*)(?![\w\"-])", " ".join(
        line.split(" ::= ", 1)[1] for line in grammar.splitlines() if " ::= " in line
        for line in [re.sub(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', " ", line)]
    )))
    assert used <= rules


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("**Tokyo** is the capital.", "Tokyo is the capital."),
        ("- first\n- second", "first second"),
        ("1. Boil water.\n2. Add the egg.", "Boil water. Add the egg."),
        ("## Answer\nIt is *late*.", "Answer It is late."),
        ("See [the docs](http://x.y) now", "See the docs now"),
    ],
)
def test_markup_is_stripped(text: str, spoken: str) -> None:
    assert " ".join(strip_markup(text).split()) == spoken


@pytest.mark.parametrize(
    "text",
    [
        "You can call the current_time function to get the time.",
        "Use the `calculate` tool.",
        "Here is the JSON object you need.",
        "I'll make a tool call for that.",
        "Check the weather API.",
        '{"name": ',
    ],
)
def test_tool_speak_is_recognised(text: str) -> None:
    assert is_tool_speak(text)


@pytest.mark.parametrize(
    "text", ["It is ten past nine in Tokyo.", "Sure, I can help.", "Twenty three times seventeen is 391.",
             'She said "hello": then she left.']
)
def test_answers_are_not_tool_speak(text: str) -> None:
    assert not is_tool_speak(text)


def test_the_guard_releases_whole_clauses_and_stops_at_tool_speak() -> None:
    guard = SpeechGuard()
    out = [guard.feed(t) for t in ["Sure", ",", " it", " is", " late", ".", " You", " can", " call", " the"]]
    # each clause with the space after it: LiveKit's markdown filter, before the TTS, passes a
    # clause's last punctuation mark on only once it has seen the character after it; an
    # opening "Sure," waits for the clause after it, which may be a pretence to stop
    assert out == ["", "", "", "", "", "", "Sure, it is late. ", "", "", ""]
    assert guard.feed(" current_time function.") == "" and guard.flagged
    assert guard.feed(" More text.") == "" and guard.finish() == ""
    assert guard.released == "Sure, it is late. "


# (reply, request) pairs from benchmarks/q1_reply_quality.py runs (voice mode)
ECHOES = [
    ("The road rode the open and to hit.", "The road rode the open and to hit."),
    ("Please set the timer for 10 minutes.", "Please set the timer for 10 minutes."),
    ("The white woman read and 44 white whales.", "The white woman read and 44 white whale."),
    ("Good morning! How are you today?", "Good morning! How are you today?"),
]
ANSWERS = [
    ("The capital of Japan is Tokyo.", "What is the capital of Japan?"),
    ("23 times 17 equals 391.", "What is 23 times 17?"),
    ("The time in it right now is Wednesday 2 December 2026, 3:23 PM.", "What time in it right now?"),
    ("You can check your order status on the website or app.", "My order hasn't arrived yet. What should I do?"),
    ("Thank you, goodbye!", "Thank you, goodbye."),  # too short to be an echo
]


@pytest.mark.parametrize(("reply", "asked"), ECHOES)
def test_a_reply_that_says_the_users_words_back_is_an_echo(reply: str, asked: str) -> None:
    assert is_echo(reply, asked)


@pytest.mark.parametrize(("reply", "asked"), ANSWERS)
def test_a_reply_that_starts_like_the_question_is_not_an_echo(reply: str, asked: str) -> None:
    assert not is_echo(reply, asked)


def test_the_guard_stops_an_echo_before_it_is_spoken() -> None:
    request = "Good morning! How are you today?"
    guard = SpeechGuard(request)
    assert guard.feed("Good morning! ") == "Good morning! "  # not an echo yet: two words
    assert guard.feed("How are you today? ") == "" and guard.flagged and guard.reason == "echo"
    assert guard.finish() == ""
    # without the user's message (or with another one) the same reply is spoken
    other = SpeechGuard()
    assert other.feed("Good morning! How are you today? ") == "Good morning! How are you today? "
    assert not other.flagged and other.reason == ""
    tool_speak = SpeechGuard(request)
    assert tool_speak.feed("Call the `current_time` function. ") == "" and tool_speak.reason == "tool-speak"


# replies of the packaged model (Q1 runs) that claim to do what no tool did, and others like them
CLAIMS = [
    "Sure, I can set a timer for 10 minutes.", "Sure, I'll set a timer for 10 minutes.",
    "I have booked a table for two.", "I've sent the message.", "Let me call them for you.",
    "OK, I will remind you tomorrow.", "I moved it to Friday.",
]
NOT_CLAIMS = [
    "You can call your dentist's office to move it.", "Sure, I can help you with that.", "Sorry, I can't set timers.",
    "Try going to bed at the same time every night.", "A spider has eight legs.", "I recommend calling the store.",
    "The capital of Japan is Tokyo.", "Let me think.",
]


@pytest.mark.parametrize("text", CLAIMS)
def test_a_reply_claiming_an_action_is_recognised(text: str) -> None:
    assert claims_an_action(text)


@pytest.mark.parametrize("text", NOT_CLAIMS)
def test_other_replies_claim_no_action(text: str) -> None:
    assert not claims_an_action(text)


@pytest.mark.parametrize("request_", [
    "What's the weather like today?", "Any news this morning?", "How is the traffic on the bridge?",
    "What is the Apple stock price?", "Tell me the score of the game.",
])
def test_questions_about_live_information(request_: str) -> None:
    assert asks_live_information(request_)


@pytest.mark.parametrize("request_", [
    "I love rainy weather.", "What is the capital of Japan?", "How do I boil an egg?", "Who wrote Romeo and Juliet?",
    "What is a stock?", "What's the weather usually like in Spain in May?", "How are shares taxed?",
])
def test_other_requests_ask_nothing_live(request_: str) -> None:
    assert not asks_live_information(request_)


def test_the_guard_stops_a_pretended_action_before_any_of_it_is_spoken() -> None:
    guard = SpeechGuard("Please set a timer for 10 minutes.")
    assert [guard.feed(t) for t in ["Sure", ", ", "I can", " set a timer", " for 10 minutes", ". "]] == [""] * 6
    assert guard.flagged and guard.reason == "action" and guard.finish() == "" and guard.released == ""
    # a refusal, or a report of what a tool did this turn, is spoken
    refusal = SpeechGuard("Please set a timer for 10 minutes.")
    assert refusal.feed("Sorry, I can't set a timer. ") == "Sorry, I can't set a timer. " and not refusal.flagged
    after_tool = SpeechGuard("Please set a timer for 10 minutes.", tools_used=True)
    assert after_tool.feed("Done, I have set your timer. ") != "" and not after_tool.flagged


def test_the_guard_stops_made_up_live_information_unless_a_tool_gave_it() -> None:
    made_up = SpeechGuard("What's the weather like today?")
    assert made_up.feed("The weather is sunny today. ") == "" and made_up.reason == "live"
    refusal = SpeechGuard("What's the weather like today?")
    said = refusal.feed("Sorry, I can't check the weather. You can use a weather app. ")
    assert said == "Sorry, I can't check the weather. You can use a weather app. " and not refusal.flagged
    from_tool = SpeechGuard("What's the weather like today?", tools_used=True)
    assert from_tool.feed("It is sunny and 21 degrees. ") == "It is sunny and 21 degrees. "


@pytest.mark.parametrize(("request_", "reply"), [
    ("Can you spell the word necessary for me?", "Necessary is spelled N, E, C, E, S, S, A, R, Y."),
    ('How do you spell "rhythm"?', "Rhythm is spelled R, H, Y, T, H, M."),
    ("How is Wednesday spelled?", "Wednesday is spelled W, E, D, N, E, S, D, A, Y."),
    ("Could you spell out the name Siobhan, please?", "Siobhan is spelled S, I, O, B, H, A, N."),
])
def test_a_request_to_spell_a_word_gets_its_letters(request_: str, reply: str) -> None:
    assert spelled_out(request_) == reply


@pytest.mark.parametrize("request_", [
    "Can you spell it?", "Please spell my name right.", "What is a magic spell?", "How is Wednesday?",
    "How is the weather?", "Spell " + "x" * 40,
])
def test_other_requests_spell_nothing(request_: str) -> None:
    assert spelled_out(request_) == ""


@given(st.text(max_size=300))
def test_spelling_any_text_is_bounded(text: str) -> None:
    reply = spelled_out(text)
    assert len(reply) <= 4 * 30 + 20 and (not reply or reply.endswith("."))


def test_the_guard_releases_the_rest_at_the_end() -> None:
    guard = SpeechGuard()
    assert guard.feed("It is 10:45") == ""
    assert guard.finish() == "It is 10:45"
    assert not guard.flagged


@given(st.lists(st.text(max_size=30), max_size=12))
def test_the_guard_never_speaks_markup_or_tool_speak(chunks: list[str]) -> None:
    guard = SpeechGuard()
    spoken = "".join(guard.feed(c) for c in chunks) + guard.finish()
    assert spoken == guard.released
    assert not re.search(r"[*`#|~<>{}\[\]\n]", spoken)
    assert not is_tool_speak(spoken)


@given(st.text(max_size=200))
def test_strip_markup_leaves_one_line_without_markup(text: str) -> None:
    once = strip_markup(text)
    assert "\n" not in once
    assert not re.search(r"[*`#|~<>{}\[\]]", once)
    assert strip_markup(once) == once


def test_tools_message_gives_each_tool_a_line_with_its_arguments() -> None:
    content = tools_message([*BUILTINS, WEATHER])["content"]
    listed = [line for line in content.splitlines() if line.startswith("- ")]
    assert listed == [
        '- current_time: Get the current date and time. Arguments: timezone (string, default "UTC"): IANA time '
        'zone name such as "Europe/Paris"; defaults to UTC.',
        '- calculate: Evaluate an arithmetic expression, for example "12 * (3 + 4)" or "15% of 80". '
        "Arguments: expression (string): the arithmetic expression to evaluate.",
        "- get_forecast: Get the weather forecast for a city. Arguments: city (string)",
    ]
    assert '<tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call>' in content
    # a forced call (its start is in the prompt): the tool's line, no call format
    forced = tools_message(BUILTINS[:1], forced=True)["content"]
    assert forced.splitlines()[1] == listed[0] and "<tool_call>" not in forced


async def test_the_clause_tokenizer_hands_over_the_first_clause_at_once() -> None:
    tokenizer = ClauseTokenizer()
    # after the first clause, sentences as blingfire splits them (shorter than 20 characters: merged)
    assert tokenizer.tokenize("Sure, I can help with that. It is late, very late.") == [
        "Sure,", "I can help with that.", " It is late, very late."
    ]
    stream = tokenizer.stream()
    emitted: list[str] = []
    pieces = ["Sure", ",", " I", " can", " help", " with", " that", ".",
              " It", " is", " late", ",", " very", " late", "."]
    for i, piece in enumerate(pieces):
        stream.push_text(piece)
        if i == 2:  # "Sure," is out as soon as the next word begins
            emitted.append((await stream.__anext__()).token)
    stream.end_input()
    emitted += [ev.token async for ev in stream]
    assert [e.strip() for e in emitted] == ["Sure,", "I can help with that.", "It is late, very late."]


class _Reply:
    """An LLM reply's text as the TTS gets it: through LiveKit's markdown filter, then ours."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[str | None] = asyncio.Queue()
        self.stream = ClauseTokenizer().stream()
        self.feeder = asyncio.create_task(self._feed())

    async def _text(self) -> AsyncIterator[str]:
        while (chunk := await self.chunks.get()) is not None:
            yield chunk

    async def _feed(self) -> None:
        async for text in filter_markdown(self._text()):
            self.stream.push_text(text)
        self.stream.end_input()

    async def says(self, chunk: str) -> str:
        await self.chunks.put(chunk)
        return (await asyncio.wait_for(self.stream.__anext__(), 1)).token.strip()


async def test_a_finished_clause_is_handed_over_before_the_next_one_begins() -> None:
    # the markdown filter holds back the space after a clause's punctuation until more text comes:
    # a finished clause must still go to Piper at once, not when the next one (a whole clause of
    # generation, or a tool call after "One moment.") arrives
    assert await _Reply().says("One moment. ") == "One moment."
    reply = _Reply()
    assert await reply.says("I'm doing well, ") == "I'm doing well,"
    # (a "!" at the end is held back by the markdown filter itself: it could open an image link)
    assert await reply.says("thank you. ") == "thank you."
    assert await reply.says("It lies on the river Seine. It is") == "It lies on the river Seine."
    pending = asyncio.ensure_future(reply.stream.__anext__())
    await asyncio.sleep(0.2)
    assert not pending.done()  # "It is" is not finished
    await reply.chunks.put(" big.")
    await reply.chunks.put(None)
    assert (await asyncio.wait_for(pending, 1)).token.strip() == "It is big."
    await reply.feeder


@pytest.mark.parametrize(
    ("duration", "window", "frames"),
    [(2.0, 10.0, 1000), (12.5, 10.0, 1350), (40.0, 10.0, 3000), (2.0, 30.0, 3000), (0.5, 1.0, 150)],
)
def test_the_whisper_encoder_window(duration: float, window: float, frames: int) -> None:
    assert encoder_frames(duration, window) == frames
