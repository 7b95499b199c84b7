"""Agents and handoffs: instructions, voice and LLM change mid-call; the store and metrics know who spoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from voxplug.cli.sessions import format_transcript
from voxplug.config.persistence import PersistenceConfig
from voxplug.core.observers import SessionObserver, TurnRecord
from voxplug.pcm import load_wav
from voxplug.persistence.database import Database
from voxplug.persistence.store import ConversationStore
from voxplug.simulate import Turn, simulate
from voxplug.telemetry import MetricsObserver
from voxplug.testing import FixedLatencyTTS

from .conftest import config_from, fixed_yaml, text_session

RECEPTION_TONE, BILLING_TONE = 220.0, 880.0

AGENTS: dict[str, Any] = {
    "receptionist": {
        "instructions": "You are the clinic's receptionist.",
        "handoffs": ["billing"],
        "tts": {"options": {"tone": RECEPTION_TONE}},
    },
    "billing": {
        "description": "answers questions about invoices and payments",
        "instructions": "You are the billing specialist.",
        "greeting": "Billing here, how can I help?",
        "handoffs": [{"agent": "receptionist", "description": "Hand back for appointments."}],
        "tts": {"options": {"tone": BILLING_TONE}},
        "llm": {"options": {
            "reply": "Billing says: {user}", "tool_calls": {"appointment": "transfer_to_receptionist"},
        }},
    },
}
RECEPTION_LLM = {"reply": "Reception says: {user}", "tool_calls": {"bill|invoice": "transfer_to_billing"}}


def squad_yaml() -> str:
    return fixed_yaml(RECEPTION_LLM, agent={"tools": []}, agents=AGENTS, start_agent="receptionist")


class Turns(SessionObserver):
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []

    def on_turn_completed(self, turn: TurnRecord) -> None:
        self.turns.append(turn)


async def test_handoff_in_text_mode_changes_instructions_voice_and_llm(tmp_path: Path) -> None:
    config = config_from(tmp_path, squad_yaml())
    store = ConversationStore(PersistenceConfig(data_dir=tmp_path / "store"))
    reader = InMemoryMetricReader()
    metrics = MetricsObserver(meter_provider=MeterProvider(metric_readers=[reader]))
    turns = Turns()
    async with text_session(config, [turns, store, metrics]) as (session, hub):
        first = await session.run(user_input="Hello")
        first.expect.next_event().is_message(role="assistant")
        assert session.current_agent.id == "receptionist"

        handoff = await session.run(user_input="I have a question about my invoice")
        handoff.expect.next_event().is_function_call(name="transfer_to_billing")
        handoff.expect.next_event().is_function_call_output()
        handoff.expect.next_event().is_agent_handoff()
        handoff.expect.next_event().is_message(role="assistant")
        billing = session.current_agent
        assert billing.id == "billing" and billing.instructions == "You are the billing specialist."
        assert isinstance(billing.tts, FixedLatencyTTS) and billing.tts.opts.tone == BILLING_TONE
        # LiveKit's transfer: the chat context came along
        assert "I have a question about my invoice" in [m.text_content for m in billing.chat_ctx.messages()]

        billed = await session.run(user_input="Why is it so high?")
        billed.expect.next_event().is_message(role="assistant")
        back = await session.run(user_input="Can I book an appointment?")
        back.expect.next_event().is_function_call(name="transfer_to_receptionist")
        assert session.current_agent.id == "receptionist"
        session_id = hub.info.session_id

    spoken = [(t.agent, t.assistant_text) for t in turns.turns]
    assert spoken == [
        ("receptionist", "Reception says: Hello"),
        ("billing", "Billing here, how can I help?"),
        ("billing", "Billing says: Why is it so high?"),
        # no greeting when entered by a handoff: the agent answers the conversation so far
        ("receptionist", "Reception says: Can I book an appointment?"),
    ]

    db = Database(store.config.url())
    try:
        detail = await db.get_session(session_id)
    finally:
        await db.dispose()
    stored = [(t["role"], t["agent"], t["text"]) for t in detail.turns]
    assert ("assistant", "billing", "Billing says: Why is it so high?") in stored
    assert ("user", "billing", "Why is it so high?") in stored
    assert ("assistant", "receptionist", "Reception says: Hello") in stored
    transcript = format_transcript(detail)
    assert "Billing says: Why is it so high? (billing)" in transcript
    assert "Reception says: Hello (receptionist)" in transcript

    counts: dict[str, float] = {}
    for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics:
        if metric.name == "voxplug.turns":
            for point in metric.data.data_points:
                counts[str(point.attributes["agent"])] = point.value
    assert counts == {"receptionist": 2, "billing": 2}


def _dominant_hz(path: str) -> float:
    samples, rate = load_wav(path)
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(samples))


async def test_handoff_in_audio_mode_changes_the_voice_heard(tmp_path: Path) -> None:
    config = config_from(tmp_path, squad_yaml())
    turns = [Turn(say="Hello there.", pause=0.2), Turn(say="A question about my invoice.", pause=0.2),
             Turn(say="Why is it so high?", pause=0.2)]
    report = await simulate(config, turns, out_dir=tmp_path / "out", voice="espeak", turn_timeout=30)
    [session] = report.sessions
    assert [t.ok for t in session.turns] == [True, True, True], [t.error for t in session.turns]
    assert [t.reply for t in session.turns] == [
        "Reception says: Hello there.", "Billing here, how can I help?", "Billing says: Why is it so high?",
    ]
    tones = [_dominant_hz(t.agent_wav or "") for t in session.turns]
    assert abs(tones[0] - RECEPTION_TONE) < 20 and all(abs(t - BILLING_TONE) < 20 for t in tones[1:]), tones
