"""P3 - voice-to-voice on the keyless local stack (Whisper, Qwen2.5 0.5B GGUF, Piper) on this CPU.

Runs ``voxplug simulate``'s engine on a scripted conversation spoken with the local TTS,
played in real time; every turn goes through Silero VAD, the configured turn detection,
Whisper, the GGUF LLM (tools offered) and Piper. Reports voice-to-voice p50/p95 with the
per-stage breakdown for each variant.

    python benchmarks/p3_local_stack.py [--rounds 2] [--variants v0,default,base]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from _common import OLD_DEFAULTS_ENV, environment, load_average, markdown_table, ms, write_section

from voxplug import load_config
from voxplug.simulate.api import simulate
from voxplug.simulate.report import percentile
from voxplug.simulate.script import Turn

UTTERANCES = (
    "Hello there!",
    "What time is it?",
    "How are you today?",
    "Can you tell me a joke?",
    "What is twelve times seven?",
    "What is the capital of France?",
    "Thanks, that was helpful.",
    "Tell me something about the moon.",
    "What day is it today?",
    "Thank you, goodbye.",
)

# name -> (description, environment overrides on top of the keyless defaults)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("defaults: whisper tiny.en (10 s encoder window) transcribing from the first 64 ms of silence, "
                "VAD turn detection, endpointing 0.5 s, preemptive generation, voice prompt, grammar on turns "
                "that offer a tool, a forced call started in the prompt, first clause to Piper early", {}),
    "v0": ("the defaults before issue 13 (30 s Whisper window, template prompt with every tool, "
           "no grammar, sentence-level TTS)", OLD_DEFAULTS_ENV),
    "v1": ("the defaults before the early transcript and preemptive generation", {
        "VOXPLUG_SESSION__EARLY_TRANSCRIPT": "1", "VOXPLUG_SESSION__PREEMPTIVE_GENERATION": "false"}),
    "late": ("defaults without the early transcript (Whisper starts at the VAD's end of speech)", {
        "VOXPLUG_SESSION__EARLY_TRANSCRIPT": "1"}),
    "nopre": ("defaults without preemptive generation", {"VOXPLUG_SESSION__PREEMPTIVE_GENERATION": "false"}),
    "pretts": ("defaults + the TTS started before the turn is confirmed", {
        "VOXPLUG_SESSION__PREEMPTIVE_TTS": "true"}),
    "base": ("defaults with whisper base (the default before tiny.en)", {"STT_MODEL": "base"}),
    "short": ("defaults with endpointing 0.3 s", {"VOXPLUG_SESSION__MIN_ENDPOINTING_DELAY": "0.3"}),
    "eot": ("defaults with the local end-of-turn model v1-mini", {"VOXPLUG_SESSION__TURN_DETECTION": "local"}),
    "fast": ("defaults with endpointing 0.3 s and the LLM on 2 threads", {
        "VOXPLUG_SESSION__MIN_ENDPOINTING_DELAY": "0.3", "VOXPLUG_LLM__OPTIONS": "{n_threads: 2}"}),
}
STAGES = (("end_of_turn_delay", "EOT"), ("stt_delay", "STT"), ("llm_ttft", "LLM TTFT"), ("tts_ttfb", "TTS TTFB"),
          ("voice_to_voice", "V2V"))


async def run_variant(name: str, rounds: int) -> dict[str, object]:
    description, env = VARIANTS[name]
    config = load_config(env={"AGENT_GREETING": "", **env})
    turns = [Turn(say=text, pause=0.8) for _ in range(rounds) for text in UTTERANCES]
    report = await simulate(config, turns, voice="local", turn_timeout=60)
    results = [t for s in report.sessions for t in s.turns]
    print(f"{name}: load average {load_average()}", flush=True)
    ok = [t for t in results if t.ok]
    row: dict[str, object] = {"name": name, "description": description, "turns": len(results),
                              "failed": len(results) - len(ok)}
    for attr, _ in STAGES:
        values = [v for t in ok if (v := getattr(t, attr)) is not None]
        row[f"{attr}_p50"] = percentile(values, 50)
        row[f"{attr}_p95"] = percentile(values, 95)
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="times the 10-utterance script is spoken")
    parser.add_argument("--variants", default="v0,default,base")
    args = parser.parse_args()
    rows = []
    for name in args.variants.split(","):
        row = await run_variant(name, args.rounds)
        rows.append(row)
        print(f"{name}: V2V p50 {ms(row['voice_to_voice_p50'])} ms, p95 {ms(row['voice_to_voice_p95'])} ms, "  # type: ignore[arg-type]
              f"{row['failed']} failed of {row['turns']}", flush=True)

    table = [["variant", "turns", "failed", *(f"{label} p50/p95 ms" for _, label in STAGES)]]
    for row in rows:
        table.append([str(row["name"]), str(row["turns"]), str(row["failed"]),
                      *(f"{ms(row[f'{a}_p50'])} / {ms(row[f'{a}_p95'])}" for a, _ in STAGES)])  # type: ignore[arg-type]
    print(markdown_table(table))
    default = next((r for r in rows if r["name"] == "default"), rows[0])
    p50 = default["voice_to_voice_p50"]
    verdict = "met" if isinstance(p50, float) and p50 <= 1.2 else "**not met**"
    legend = "\n".join(f"- `{r['name']}`: {r['description']}" for r in rows)
    write_section("p3", f"""## P3 - voice-to-voice on the local stack

`python benchmarks/p3_local_stack.py --rounds {args.rounds} --variants {args.variants}`: {len(UTTERANCES)}
utterances spoken with the local Piper voice, {args.rounds} rounds per variant, played in real time
through the full `AgentSession` (Silero VAD, Whisper via faster-whisper int8, Qwen2.5-Coder 0.5B Q4_K_M
via llama.cpp with the tools offered, Piper en_US joe). Voice-to-voice: end of the user's speech to the
first agent audio frame. EOT is the framework's end-of-turn delay (from the VAD's end of speech; with a
non-streaming STT it includes waiting for the transcript), STT the time to the final transcript.

{legend}

{markdown_table(table)}

Target: p50 <= 1.2 s with the defaults - {verdict}.

Environment: {environment()}.
""")


if __name__ == "__main__":
    asyncio.run(main())
