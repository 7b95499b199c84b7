"""Real speech through the real session: VAD → STT → LLM → TTS, vendor plugins on the wire.

An espeak-ng sentence is played as real-time 20 ms frames into the AgentSession built from
config; Silero VAD cuts it, the OpenAI plugins send it to a local server speaking the
OpenAI API, and the agent's audio is captured at the session's audio output.
"""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

from fakes.vendor_server import VendorServer, compatible_stages
from voxplug import load_config
from voxplug.simulate.api import simulate
from voxplug.simulate.script import Turn


async def test_spoken_turn_flows_through_vad_stt_llm_tts(tmp_path: Path) -> None:
    wav = tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "What time is it in Paris right now?"], check=True)
    async with VendorServer(transcript="what time is it in paris", reply="It is noon in Paris.") as srv:
        cfg = load_config(env={**compatible_stages(srv.url), "AGENT_GREETING": "Hi there."})
        report = await simulate(cfg, [Turn(wav=wav)], out_dir=tmp_path / "out", voice="espeak")

    [session] = report.sessions
    [turn] = session.turns
    assert turn.ok, turn.error
    assert turn.heard == "what time is it in paris"
    assert turn.reply == "It is noon in Paris."
    assert turn.voice_to_voice is not None and 0 < turn.voice_to_voice < 10
    assert turn.agent_audio is not None and turn.agent_audio > 0.2
    assert turn.agent_wav is not None and Path(turn.agent_wav).stat().st_size > 1000
    assert session.greeting == "Hi there."

    # the STT request carried the VAD-cut utterance: one WAV about as long as the sentence
    [upload] = srv.find("/audio/transcriptions")
    with wave.open(io.BytesIO(upload.files["file"])) as sent:
        seconds = sent.getnframes() / sent.getframerate()
    with wave.open(str(wav)) as spoken:
        spoken_seconds = spoken.getnframes() / spoken.getframerate()
    assert 0.5 * spoken_seconds < seconds < spoken_seconds + 1.5
    # the reply went to the TTS, after the greeting
    assert [r.body["input"] for r in srv.find("/audio/speech")] == ["Hi there.", "It is noon in Paris."]
