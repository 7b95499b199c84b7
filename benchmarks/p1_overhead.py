"""P1: voxplug's overhead on voice-to-voice latency, against a bare hand-built AgentSession.

The same scripted audio conversation runs through (a) ``voxplug.core.session.build_session``
+ ``VoiceAssistantAgent`` + the observer hub, and (b) an ``AgentSession`` written by hand
with the same framework settings and a plain ``Agent``. Both use identical fixed-latency
providers (STT 100 ms, LLM first token 200 ms, TTS first byte 100 ms), real Silero VAD,
the same simulated microphone and speaker. Conversations alternate (a, b, a, b, ...) so
background load hits both alike.

Voice-to-voice = first agent audio frame at the speaker - end of the user's speech.
Target: p50 and p95 ratio voxplug / bare <= 1.02.

    python benchmarks/p1_overhead.py [--rounds 5] [--no-doc]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from livekit.agents import Agent, AgentSession, inference

sys.path.insert(0, os.path.dirname(__file__))
from _common import environment, markdown_table, ms, write_section

from voxplug import load_config
from voxplug.core.session import load_session_models
from voxplug.core.tools import current_time
from voxplug.simulate import Turn, drive_conversation, run_conversation
from voxplug.simulate.report import percentile
from voxplug.simulate.voice import prepare_turn_audio
from voxplug.testing.fixed import (
    FixedLatencyLLM,
    FixedLatencySTT,
    FixedLatencyTTS,
    FixedLLMOptions,
    FixedSTTOptions,
    FixedTTSOptions,
)

STT_LATENCY, LLM_TTFT, TTS_TTFB = 0.1, 0.2, 0.1
PROVIDERS_SUM = STT_LATENCY + LLM_TTFT + TTS_TTFB
REPLY = "Sure, here is a short answer."
SCRIPT = [
    Turn(say="Hello there, how are you?", pause=0.4),
    Turn(say="Can you tell me something interesting?", pause=0.4),
    Turn(say="What is the weather like today?", pause=0.4),
    Turn(say="Thank you very much, goodbye.", pause=0.4),
]
INSTRUCTIONS = "You are a helpful voice assistant."

CONFIG_ENV = {
    "STT_PROVIDER": "fixed",
    "LLM_PROVIDER": "fixed",
    "TTS_PROVIDER": "fixed",
    "VOXPLUG_STT__OPTIONS": f"{{latency: {STT_LATENCY}}}",
    "VOXPLUG_LLM__OPTIONS": f"{{ttft: {LLM_TTFT}, reply: '{REPLY}', tool_calls: {{}}}}",
    "VOXPLUG_TTS__OPTIONS": f"{{ttfb: {TTS_TTFB}, chars_per_second: 40}}",
    "VOXPLUG_AGENT__GREETING": "",
    "VOXPLUG_AGENT__INSTRUCTIONS": INSTRUCTIONS,
}


def bare_session(vad: inference.VAD) -> tuple[AgentSession, Agent]:
    """What a LiveKit user writes by hand: same providers and framework settings, no voxplug."""
    session = AgentSession(
        stt=FixedLatencySTT(FixedSTTOptions(latency=STT_LATENCY)),
        llm=FixedLatencyLLM(FixedLLMOptions(ttft=LLM_TTFT, reply=REPLY, tool_calls={})),
        tts=FixedLatencyTTS(FixedTTSOptions(ttfb=TTS_TTFB, chars_per_second=40)),
        vad=vad,
        turn_handling={
            "turn_detection": "vad",
            "endpointing": {"min_delay": 0.5, "max_delay": 3.0},
            "interruption": {"enabled": True, "mode": "vad", "min_duration": 0.5},
            "preemptive_generation": {"enabled": False},
        },
        max_tool_steps=3,
        session_close_transcript_timeout=0.0,
    )
    return session, Agent(instructions=INSTRUCTIONS, tools=[current_time])


def summary(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


async def main(rounds: int, write_doc: bool) -> int:
    config = load_config(env=CONFIG_ENV)
    audio = await prepare_turn_audio(SCRIPT, "espeak")
    models = load_session_models(config.session)
    bare_vad = inference.VAD(model="silero")
    v2v: dict[str, list[float]] = {"voxplug": [], "bare": []}
    paired: dict[tuple[int, int], dict[str, float]] = {}
    failures = 0
    started = time.monotonic()
    for r in range(rounds):
        for variant in ("voxplug", "bare") if r % 2 == 0 else ("bare", "voxplug"):
            if variant == "voxplug":
                result = await run_conversation(config, SCRIPT, audio, models=models)
            else:
                session, agent = bare_session(bare_vad)
                result = await drive_conversation(session, agent, SCRIPT, audio)
            for t in result.turns:
                if t.ok and t.voice_to_voice is not None:
                    v2v[variant].append(t.voice_to_voice)
                    paired.setdefault((r, t.turn), {})[variant] = t.voice_to_voice
                else:
                    failures += 1
                    print(f"round {r + 1} {variant} turn {t.turn} failed: {t.error}", file=sys.stderr)
            print(f"round {r + 1}/{rounds} {variant}: v2v " + " ".join(
                ms(t.voice_to_voice) for t in result.turns) + " ms", file=sys.stderr)
    stats = {k: summary(v) for k, v in v2v.items()}
    ratio50 = stats["voxplug"]["p50"] / stats["bare"]["p50"]  # type: ignore[operator]
    ratio95 = stats["voxplug"]["p95"] / stats["bare"]["p95"]  # type: ignore[operator]
    rows = [["path", "turns", "V2V p50 ms", "V2V p95 ms", "p50 above providers' sum ms"]]
    for name, s in stats.items():
        rows.append([name, str(s["n"]), ms(s["p50"]), ms(s["p95"]), ms(s["p50"] - PROVIDERS_SUM)])  # type: ignore[operator]
    rows.append(["ratio voxplug/bare", "", f"{ratio50:.3f}", f"{ratio95:.3f}", ""])
    diffs = [p["voxplug"] - p["bare"] for p in paired.values() if len(p) == 2]
    mean_diff = statistics.fmean(diffs) if diffs else 0.0
    ci = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    ok = ratio50 <= 1.02 and ratio95 <= 1.02 and failures == 0
    table = markdown_table(rows)
    paired_line = (
        f"paired difference voxplug - bare (same round and turn): mean {mean_diff * 1000:+.1f} ms, "
        f"95% CI +/-{ci * 1000:.1f} ms over {len(diffs)} pairs"
    )
    print(table)
    print(paired_line)
    print(f"target ratio <= 1.02: {'met' if ok else 'NOT met'}; failures: {failures}; "
          f"{time.monotonic() - started:.0f}s")
    if write_doc:
        write_section("p1", f"""
## P1 - voxplug overhead on voice-to-voice latency

`python benchmarks/p1_overhead.py --rounds {rounds}`: the same {len(SCRIPT)}-turn spoken conversation
(espeak-ng, played as real-time 20 ms frames) through voxplug's session builder and through a bare
hand-built LiveKit `AgentSession` with the same framework settings, {rounds} conversations each,
alternating. Both use identical fixed-latency providers (STT {STT_LATENCY * 1000:.0f} ms, LLM first token
{LLM_TTFT * 1000:.0f} ms, TTS first byte {TTS_TTFB * 1000:.0f} ms; sum {PROVIDERS_SUM * 1000:.0f} ms) and real
Silero VAD. Voice-to-voice is measured outside the framework: first agent audio frame at the speaker minus
the end of the user's speech in the played audio.

{table}

{paired_line}.

Target: ratio <= 1.02 at p50 and p95 - **{'met' if ok else 'not met'}** ({failures} failed turns).
"Above providers' sum" is mostly the endpointing delay (`session.min_endpointing_delay`, 0.5 s after
the VAD's end of speech), which the STT request overlaps, plus the VAD's own detection lag; it is the
same framework cost on both paths.

Environment: {environment()}.
""")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="conversations per path (default 5)")
    parser.add_argument("--no-doc", action="store_true", help="don't update docs/benchmarks.md")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rounds, not args.no_doc)))
