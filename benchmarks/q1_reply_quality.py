"""Q1 - do the keyless local stack's replies answer? Spoken everyday requests, graded.

Every conversation of ``benchmarks/quality_cases.yaml`` is spoken by its espeak-ng voice at its
speed and played in real time through ``voxplug simulate``'s engine (Silero VAD, Whisper, the GGUF
LLM with the tools offered, Piper), one fresh session per conversation. Each reply is graded
against what the case file says a good reply must do; the script reports per variant the STT word
error rate, the share of requests whose key words were heard, tool-call precision and recall, and
the share of acceptable replies, and writes the table into docs/benchmarks.md (section q1).

    python benchmarks/q1_reply_quality.py [--variants default] [--mode voice|text] [--json out.json]

``--mode text`` types the requests instead (LLM only: no STT, VAD or TTS): a quick check of the LLM.
``--mode stt`` only transcribes each request's recording, whole, with the variant's STT (no VAD, no
session): the words a voice run's LLM can at best be given, so the key words heard bound what a
voice run can answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import yaml
from _common import OLD_DEFAULTS_ENV, environment, load_average, markdown_table, ms, write_section
from livekit import rtc
from livekit.agents import AgentSession, llm

from voxplug import load_config
from voxplug.config.models import VoxplugConfig
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.local import preload_local_models
from voxplug.pcm import load_wav
from voxplug.providers.registry import ProviderFactory
from voxplug.simulate.api import simulate
from voxplug.simulate.report import edit_distance, percentile
from voxplug.simulate.script import Turn

CASES = Path(__file__).resolve().parent / "quality_cases.yaml"
MAX_WORDS = 60
TURN_TIMEOUT = 300.0  # generous: under load a slow turn is slow, not failed
# the configuration every variant starts from: the keyless defaults with both built-in tools
BASE_ENV = {"VOXPLUG_AGENT__TOOLS": "[current_time, calculate]"}

# name -> (description, environment overrides on top of BASE_ENV)
def _llm(**options: str) -> dict[str, str]:
    return {"VOXPLUG_LLM__OPTIONS": "{" + ", ".join(f"{k}: {v}" for k, v in options.items()) + "}"}


VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("the defaults", {}),
    "v0": ("the defaults before issue 13", OLD_DEFAULTS_ENV),
    "base": ("defaults with whisper base (the default before tiny.en)", {"STT_MODEL": "base"}),
    "all-tools": ("defaults, but every tool offered on every turn", _llm(tool_filter="all")),
    "no-grammar": ("defaults without the GBNF grammar", _llm(grammar="false")),
    "model-decides": ("defaults, but the model may answer without calling a relevant tool",
                      _llm(require_call="false")),
    "no-filter": ("defaults without the reply filter", _llm(reply_filter="false")),
    "no-filler": ("defaults without the words said while a tool call runs", _llm(call_filler='""')),
    "template": ("defaults, but the chat template's prompt and tool section (no voice rules, no examples)",
                 _llm(prompt="template")),
}


# -- the cases ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    conversation: int
    voice: str
    speed: int
    say: str
    key: tuple[str, ...]
    tool: str | None  # None: no tool may be called
    reply: tuple[str, ...]


def load_cases(path: Path = CASES) -> list[list[Case]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    conversations: list[list[Case]] = []
    for n, conv in enumerate(data["conversations"], start=1):
        turns = []
        for t in conv["turns"]:
            tool = t["tool"]
            turns.append(Case(
                conversation=n, voice=str(conv["voice"]), speed=int(conv["speed"]), say=str(t["say"]),
                key=tuple(str(k) for k in t["key"]), tool=None if tool == "none" else str(tool),
                reply=tuple(str(r) for r in t["reply"]),
            ))
        conversations.append(turns)
    return conversations


# -- text normalisation and word error rate ---------------------------------------------------------
_UNITS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"))}
_TENS = {w: 10 * i for i, w in enumerate(
    ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_CONTRACTIONS = {
    "what's": "what is", "it's": "it is", "that's": "that is", "hasn't": "has not", "haven't": "have not",
    "don't": "do not", "i'm": "i am", "can't": "cannot", "won't": "will not", "isn't": "is not",
    "there's": "there is", "let's": "let us", "you're": "you are", "i'd": "i would", "i'll": "i will",
}


def _numbers(words: list[str]) -> list[str]:
    """Spelled-out numbers to digits: "one hundred and forty four" -> "144"."""
    out: list[str] = []
    total = current = 0
    in_number = False

    def close() -> None:
        nonlocal total, current, in_number
        if in_number:
            out.append(str(total + current))
        total = current = 0
        in_number = False

    for i, w in enumerate(words):
        if w in _UNITS or w in _TENS:
            current += _UNITS.get(w, 0) + _TENS.get(w, 0)
            in_number = True
        elif w in _SCALES and in_number:
            if w == "hundred":
                current *= 100
            else:
                total += current * _SCALES[w]
                current = 0
        elif w == "and" and in_number and i + 1 < len(words) and (words[i + 1] in _UNITS or words[i + 1] in _TENS):
            continue
        else:
            close()
            out.append(w)
    close()
    return out


def normalize(text: str) -> list[str]:
    text = text.lower().replace("%", " percent ").replace("\u2019", "'")
    text = re.sub(r"\$(\d+(?:\.\d+)?)", r"\1 dollars", text)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    words = []
    for w in re.findall(r"[a-z0-9']+", text.replace("-", " ")):
        words.extend(_CONTRACTIONS.get(w, w.strip("'")).split())
    return _numbers([w for w in words if w])


# -- grading ------------------------------------------------------------------------------------------
# a voice reply that talks about its machinery instead of answering
TOOL_SPEAK = re.compile(
    r"\bfunctions?\b|\btools?\b|\bapis?\b|\bjson\b|\bparameters?\b|\bcode\b|\bcurrent_time\b|\bcalculate\(|"
    r"[a-z]+_[a-z]+|[{}<>\[\]]",
    re.IGNORECASE,
)
MARKDOWN = re.compile(r"\*|`|#|\|\s|^\s*[-+]\s|^\s*\d+[.)]\s|\]\(|\n\s*\n", re.MULTILINE)


@dataclass
class Verdict:
    case: Case
    heard: str | None
    reply: str
    tools: list[str]
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    voice_to_voice: float | None = None
    calls: list[str] = field(default_factory=list)  # "name(arguments) -> output", for the JSON

    @property
    def acceptable(self) -> bool:
        return not self.problems

    @property
    def tool_speak(self) -> bool:
        return any(p.startswith("tool-speak") for p in self.problems)

    @property
    def markdown(self) -> bool:
        return any(p.startswith("markdown") for p in self.problems)

    @property
    def keys_heard(self) -> bool:
        if self.heard is None:
            return True
        heard = " ".join(normalize(self.heard))
        return all(" ".join(normalize(k)) in heard for k in self.case.key)


_CALENDAR_WORDS = frozenset((
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
))


_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")


def result_facts(output: str, request: str) -> set[str]:
    """What a reply built on a tool's result must repeat one of: its numbers (for an equation,
    the result side) and day or month names, minus the numbers the request itself gave."""
    side = output.rsplit(" = ", 1)[-1]
    words = normalize(side)
    asked = set(normalize(request))
    return {w for w in words if (w.isdigit() and w not in asked) or w in _CALENDAR_WORDS}


def grade(case: Case, *, heard: str | None, reply: str, tools: list[str], error: str | None,
          voice_to_voice: float | None = None, outputs: dict[str, str] | None = None) -> Verdict:
    v = Verdict(case, heard, reply, tools, error, voice_to_voice=voice_to_voice)
    if error:
        v.problems.append(f"failed turn: {error}")
    if case.tool is not None and case.tool not in tools:
        v.problems.append(f"needed tool {case.tool} not called")
    wrong = [t for t in tools if t != case.tool]
    if wrong:
        v.problems.append(f"called {', '.join(sorted(set(wrong)))}")
    text = reply.strip()
    if not text:
        v.problems.append("empty reply")
    elif not any(re.search(p, text, re.IGNORECASE) for p in case.reply):
        v.problems.append(f"reply matches none of {list(case.reply)}")
    # a reply after a tool call must use the result, not make one up ("The time is 3:15 PM." with
    # the tool saying 8:17 PM passed a bare "a number" check)
    output = (outputs or {}).get(case.tool or "", "")
    facts = result_facts(output, heard or case.say) if output else set()
    if text and facts and not facts & set(normalize(text)):
        v.problems.append(f"uses none of the tool's result {output!r}")
    # nor change it: "The time is 3:37 PM Thursday, December 2026." shares the day's name with
    # "Thursday 3 December 2026, 12:37 PM" and took the day's number for the hour
    if output and (wrong_times := sorted(set(_CLOCK.findall(text)) - set(_CLOCK.findall(output)))):
        v.problems.append(f"tells a time the tool did not give ({', '.join(wrong_times)})")
    if (m := TOOL_SPEAK.search(text)) is not None:
        v.problems.append(f"tool-speak ({m.group(0)!r})")
    if (m := MARKDOWN.search(text)) is not None:
        v.problems.append(f"markdown ({m.group(0).strip() or 'blank line'!r})")
    if len(text.split()) > MAX_WORDS:
        v.problems.append(f"{len(text.split())} words (more than {MAX_WORDS})")
    return v


# -- running ------------------------------------------------------------------------------------------
def espeak(text: str, voice: str, speed: int, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), "--", text],
                   check=True, capture_output=True)
    return path


async def run_voice(config: VoxplugConfig, conversations: list[list[Case]], workdir: Path) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for conv in conversations:
        turns = [
            Turn(wav=espeak(c.say, c.voice, c.speed, workdir / f"c{c.conversation}_{i}.wav"), pause=0.8)
            for i, c in enumerate(conv)
        ]
        report = await simulate(config, turns, voice="espeak", turn_timeout=TURN_TIMEOUT)
        for case, res in zip(conv, report.turns, strict=True):
            v = grade(case, heard=res.heard, reply=res.reply, tools=[c["name"] for c in res.tool_calls],
                      error=res.error if not res.ok else None, voice_to_voice=res.voice_to_voice,
                      outputs={c["name"]: c.get("output", "") for c in res.tool_calls})
            v.calls = [f"{c['name']}({c.get('arguments', '')}) -> {c.get('output', '')}" for c in res.tool_calls]
            verdicts.append(v)
            print(_line(v), flush=True)
    return verdicts


async def run_stt(config: VoxplugConfig, conversations: list[list[Case]], workdir: Path) -> list[Verdict]:
    """Each request's recording transcribed whole by the configured STT (the verdicts carry only
    what was heard, and the seconds it took as ``voice_to_voice``)."""
    await asyncio.to_thread(preload_local_models, config)
    recognizer = ProviderFactory.create_stt(config.stt)
    verdicts: list[Verdict] = []
    for conv in conversations:
        for i, case in enumerate(conv):
            wav = espeak(case.say, case.voice, case.speed, workdir / f"s{case.conversation}_{i}.wav")
            samples, rate = load_wav(wav)
            frame = rtc.AudioFrame(samples.tobytes(), rate, 1, len(samples))
            started = time.perf_counter()
            event = await recognizer.recognize(frame)
            v = Verdict(case, event.alternatives[0].text if event.alternatives else "", "", [],
                        voice_to_voice=time.perf_counter() - started)
            verdicts.append(v)
            print(f"  [{case.conversation}] {case.say!r} | heard {v.heard!r} | key words "
                  f"{'heard' if v.keys_heard else 'MISSED'} | {1000 * (v.voice_to_voice or 0):.0f} ms", flush=True)
    return verdicts


async def _text_session(config: VoxplugConfig) -> AgentSession:
    agent = VoiceAssistantAgent(config.agent.model_copy(update={"greeting": None}))
    if config.agent.greeting:  # in the history as if it had been spoken
        ctx = agent.chat_ctx.copy()
        ctx.add_message(role="assistant", content=config.agent.greeting)
        await agent.update_chat_ctx(ctx)
    session: AgentSession = AgentSession(llm=ProviderFactory.create_llm(config.llm),
                                         max_tool_steps=config.session.max_tool_steps)
    await session.start(agent)
    return session


async def run_text(config: VoxplugConfig, conversations: list[list[Case]]) -> list[Verdict]:
    """Typed requests into an LLM-only AgentSession (the greeting is put in the history as spoken)."""
    await asyncio.to_thread(preload_local_models, config)
    verdicts: list[Verdict] = []
    for conv in conversations:
        session = await _text_session(config)
        try:
            for case in conv:
                tools: list[str] = []
                texts: list[str] = []
                outputs: dict[str, str] = {}
                calls: dict[str, str] = {}  # by call id
                error = None
                try:
                    result = await asyncio.wait_for(session.run(user_input=case.say), TURN_TIMEOUT)
                    for ev in result.events:
                        if ev.type == "function_call":
                            tools.append(ev.item.name)
                            calls[ev.item.call_id] = f"{ev.item.name}({ev.item.arguments})"
                        elif ev.type == "function_call_output":
                            outputs[ev.item.name] = ev.item.output
                            # one "name(arguments) -> output" a call, as in voice mode
                            calls[ev.item.call_id] = f"{calls.get(ev.item.call_id, ev.item.name)} -> {ev.item.output}"
                        elif ev.type == "message" and isinstance(ev.item, llm.ChatMessage) \
                                and ev.item.role == "assistant":
                            texts.append(ev.item.text_content or "")
                except Exception as exc:  # a failed turn is a verdict, not a crash of the benchmark
                    error = f"{type(exc).__name__}: {exc}"
                    # a timed-out run is still active: the next turn gets a fresh session
                    await session.aclose()
                    session = await _text_session(config)
                v = grade(case, heard=None, reply=" ".join(texts), tools=tools, error=error, outputs=outputs)
                v.calls = list(calls.values())
                verdicts.append(v)
                print(_line(v), flush=True)
        finally:
            await session.aclose()
    return verdicts


def _line(v: Verdict) -> str:
    heard = f" | heard {v.heard!r}" if v.heard is not None else ""
    tools = f" | tools {v.tools}" if v.tools else ""
    verdict = "ok" if v.acceptable else "BAD: " + "; ".join(v.problems)
    return f"  [{v.case.conversation}] {v.case.say!r}{heard}{tools} | reply {v.reply[:160]!r} -> {verdict}"


# -- summary ------------------------------------------------------------------------------------------
def summarize(verdicts: list[Verdict], mode: str) -> dict[str, Any]:
    needed = [v for v in verdicts if v.case.tool is not None]
    calls = [(v, t) for v in verdicts for t in v.tools]
    summary: dict[str, Any] = {
        "requests": len(verdicts),
        "acceptable": sum(v.acceptable for v in verdicts),
        "tool_speak": sum(v.tool_speak for v in verdicts),
        "markdown": sum(v.markdown for v in verdicts),
        "failed_turns": sum(v.error is not None for v in verdicts),
        "tool_calls": len(calls),
        # precision: calls the request needed / all calls; recall: needed tools that were called
        "tool_precision": sum(t == v.case.tool for v, t in calls) / len(calls) if calls else None,
        "tool_recall": sum(v.case.tool in v.tools for v in needed) / len(needed) if needed else None,
    }
    if mode in ("voice", "stt"):
        ref = [normalize(v.case.say) for v in verdicts]
        hyp = [normalize(v.heard or "") for v in verdicts]
        summary["wer"] = sum(edit_distance(r, h) for r, h in zip(ref, hyp, strict=True)) / sum(map(len, ref))
        summary["keys_heard"] = sum(v.keys_heard for v in verdicts)
        v2v = [v.voice_to_voice for v in verdicts if v.voice_to_voice is not None]
        summary["v2v_p50"], summary["v2v_p95"] = percentile(v2v, 50), percentile(v2v, 95)
    return summary


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


async def run_variant(name: str, mode: str, workdir: Path) -> dict[str, Any]:
    description, env = VARIANTS[name]
    config = load_config(env={**BASE_ENV, **env})
    conversations = load_cases()
    load_before = load_average()
    print(f"== {name} ({mode}): {description}; load average {load_before}", flush=True)
    started = time.monotonic()
    if mode == "voice":
        verdicts = await run_voice(config, conversations, workdir)
    elif mode == "stt":
        verdicts = await run_stt(config, conversations, workdir)
    else:
        verdicts = await run_text(config, conversations)
    summary = summarize(verdicts, mode)
    summary.update(name=name, description=description, mode=mode, load_before=load_before,
                   load_after=load_average(), seconds=round(time.monotonic() - started, 1))
    return {"summary": summary, "turns": [
        {**asdict(v.case), "heard": v.heard, "reply": v.reply, "tools": v.tools, "error": v.error,
         "problems": v.problems, "voice_to_voice": v.voice_to_voice, "calls": v.calls,
         "keys_heard": v.keys_heard} for v in verdicts
    ]}


def stt_table(rows: list[dict[str, Any]]) -> str:
    out = [["variant", "requests", "STT WER", "key words heard", "ms per request p50/p95", "load avg before / after"]]
    out += [[r["name"], str(r["requests"]), _pct(r["wer"]), f"{r['keys_heard']}/{r['requests']}",
             f"{ms(r['v2v_p50'])} / {ms(r['v2v_p95'])}", f"{r['load_before']} / {r['load_after']}"] for r in rows]
    return markdown_table(out)


def table(rows: list[dict[str, Any]]) -> str:
    if rows[0]["mode"] == "stt":
        return stt_table(rows)
    voice = rows[0]["mode"] == "voice"
    head = ["variant", "requests", "acceptable", "tool-speak", "markdown", "tool precision", "tool recall"]
    if voice:
        head += ["STT WER", "key words heard", "V2V p50/p95 ms"]
    head += ["load avg before / after"]
    out = [head]
    for r in rows:
        n = r["requests"]
        cells = [r["name"], str(n), f"{r['acceptable']}/{n} ({_pct(r['acceptable'] / n)})", str(r["tool_speak"]),
                 str(r["markdown"]), _pct(r["tool_precision"]), _pct(r["tool_recall"])]
        if voice:
            cells += [_pct(r["wer"]), f"{r['keys_heard']}/{n}", f"{ms(r['v2v_p50'])} / {ms(r['v2v_p95'])}"]
        cells.append(f"{r['load_before']} / {r['load_after']}")
        out.append(cells)
    return markdown_table(out)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--variants", default="default", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--mode", choices=("voice", "text", "stt"), default="voice")
    parser.add_argument("--json", metavar="PATH", help="also write every graded turn as JSON")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="voxplug-q1-") as tmp:
        for name in names:
            results.append(await run_variant(name, args.mode, Path(tmp)))
    rows = [r["summary"] for r in results]
    text = table(rows)
    print(text)
    print(f"load average now: {load_average()}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.no_doc:
        return
    if args.mode == "stt":
        write_stt_section(args.variants, rows, results)
        return
    failures = "\n".join(
        f"- `{r['summary']['name']}` [{t['conversation']}] \"{t['say']}\""
        + (f" (heard \"{t['heard']}\")" if t["heard"] is not None else "")
        + f": {'; '.join(t['problems'])} - reply \"{' '.join(t['reply'].split())[:200]}\""
        for r in results for t in r["turns"] if t["problems"]
    ) or "- none"
    legend = "\n".join(f"- `{r['name']}`: {r['description']}" for r in rows)
    cmd = f"python benchmarks/q1_reply_quality.py --mode {args.mode} --variants {args.variants}"
    how = (
        "spoken by six espeak-ng voices the tests do not use, at 130-190 words per minute, and played in "
        "real time through the whole local stack" if args.mode == "voice"
        else "typed into an LLM-only session (no STT, VAD or TTS)"
    )
    write_section(f"q1-{args.mode}", f"""## Q1 - reply quality of the local stack ({args.mode} input)

`{cmd}`: the {rows[0]["requests"]} everyday requests of
[`benchmarks/quality_cases.yaml`](../benchmarks/quality_cases.yaml) (written before tuning: what each reply
must do), {how}; tools offered: `current_time`, `calculate`. A reply is acceptable when it calls the tool the
request needs (and no other), matches the expected content, has at most {MAX_WORDS} words, and never talks
about functions, tools, code or APIs (tool-speak) nor uses markdown. Tool precision: calls the request
needed / all calls; recall: requests needing a tool that got it. A turn that fails (no reply within
{TURN_TIMEOUT:g} s) counts as not acceptable; under load replies get slower, not different (temperature 0),
so the verdicts barely depend on the load.

{legend}

{text}

Target: >= 90 % acceptable, 0 tool-speak, 0 markdown, tool recall 100 %.

Not acceptable:
{failures}

Environment: {environment()}.
""")


def write_stt_section(variants: str, rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    missed = "\n".join(
        f"- `{r['summary']['name']}` \"{t['say']}\" heard \"{t['heard']}\""
        for r in results for t in r["turns"] if not t["keys_heard"]
    ) or "- none"
    legend = "\n".join(f"- `{r['name']}`: {r['description']}" for r in rows)
    write_section("q1-stt", f"""## Q1 - what the local STT hears of the requests

`python benchmarks/q1_reply_quality.py --mode stt --variants {variants}`: each of the {rows[0]["requests"]}
requests of [`benchmarks/quality_cases.yaml`](../benchmarks/quality_cases.yaml), spoken by its espeak-ng voice
at its speed, transcribed whole by the variant's STT (no VAD, no session, one request at a time): the words
a voice run's LLM can at best be given. A request whose key words are missed can hardly be answered, so
the key words heard bound the voice run's acceptable replies.

{legend}

{stt_table(rows)}

Key words missed:
{missed}

Environment: {environment()}.
""")


if __name__ == "__main__":
    asyncio.run(main())
