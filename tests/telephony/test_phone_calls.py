"""Phone calls end to end: a PJSIP phone dials the real LiveKit SIP service, which bridges the
call into a room served by a real ``voxplug start`` worker; the agent dials out to a phone
too. Audio is G.711 at 8 kHz both ways; what the phones hear is transcribed with Whisper.

The agent runs Whisper (STT), the fixed LLM (a set reply; tools on keypad turns) and
Piper (TTS). Trunks and the dispatch rule are made with ``voxplug sip
setup``, the outbound call with ``voxplug call``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from voxplug.persistence.database import Database, SessionDetail
from voxplug.room.devserver import WorkerProcess, start_worker
from voxplug.telephony.softphone import PhoneCall, PhoneLine

from .conftest import PhoneNetwork, speech, transcribe, word_recall

pytestmark = [pytest.mark.slow, pytest.mark.realtime]

AGENT = "voxplug-phone"
TRUNK_NUMBER = "+15550100"
CALLER = "+15557654321"
DESK = "+15550199"
CALLEE = "+15550123"
GREETING = "Thank you for calling the test line. How can I help you today?"
QUESTION = "Please tell me the opening hours of the library."
ANNOUNCEMENT = "Please hold while I transfer you to the front desk."
REPLY = "The library opens early in the morning and closes late in the evening."
# Whisper base on the far end of G.711 loses a word or two: a loaded CI run heard the
# greeting as "... I'll help you today." (10 of 13 words); silence or another text scores < 0.3
GREETING_RECALL = 0.7


@dataclass
class Deployment:
    network: PhoneNetwork
    worker: WorkerProcess
    env: dict[str, str]
    desk: PhoneLine
    callee: PhoneLine
    data_dir: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voxplug", *args], env={**os.environ, **self.env},
            capture_output=True, text=True, timeout=120,
        )

    def sessions(self, identity: str) -> list[SessionDetail]:
        """Stored conversations with ``identity``, newest first (none before the first write)."""

        async def read() -> list[SessionDetail]:
            db = Database(f"sqlite+aiosqlite:///{self.data_dir / 'voxplug.db'}")
            try:
                rows = [r for r in await db.list_sessions(limit=200) if r["participant"] == identity]
                return [await db.get_session(r["id"]) for r in rows]
            except Exception:  # the worker creates the database with its first session
                return []
            finally:
                await db.dispose()

        return asyncio.run(read())

    def wait_for(self, identity: str, ready: Callable[[SessionDetail], bool], *, after: set[str],
                 timeout: float = 90.0) -> SessionDetail:
        """Poll the store until the newest session with ``identity`` (not in ``after``) is ``ready``.

        The store writes each turn when its speech has finished playing, so this is how a
        test knows the agent is done talking, however slowly a loaded machine synthesizes.
        """
        deadline = time.monotonic() + timeout
        latest: SessionDetail | None = None
        while time.monotonic() < deadline:
            fresh = [d for d in self.sessions(identity) if d.session["id"] not in after]
            latest = fresh[0] if fresh else None
            if latest is not None and ready(latest):
                return latest
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting on the stored session with {identity}: {latest}")

    def known(self, identity: str) -> set[str]:
        return {d.session["id"] for d in self.sessions(identity)}


def said(text: str) -> Callable[[SessionDetail], bool]:
    return lambda d: any(t["role"] == "assistant" and (t["text"] or "").startswith(text) for t in d.turns)


def ended(d: SessionDetail) -> bool:
    return d.session["ended_at"] is not None and "call.end_reason" in d.attributes


@pytest.fixture(scope="module")
def deployment(network: PhoneNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("phone")
    desk = network.phone.line(DESK)
    callee = network.phone.line(CALLEE)
    data_dir = workdir / "data"
    llm = {
        "ttft": 0.2,
        "reply": REPLY,
        "tool_calls": {
            r"pressed 5 on": "current_time",
            r"pressed 1 on": {"name": "transfer_call", "arguments": {"destination": "desk"}},
        },
    }
    env = {
        **network.livekit.env,
        "VOXPLUG_WORKER__AGENT_NAME": AGENT,
        "STT_PROVIDER": "local", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "local",
        "VOXPLUG_LLM__OPTIONS": json.dumps(llm),
        "VOXPLUG_AGENT__GREETING": GREETING,
        "VOXPLUG_AGENT__TOOLS": "[current_time]",
        "VOXPLUG_TELEPHONY__TRANSFER__DESTINATIONS": json.dumps({"desk": desk.uri}),
        "VOXPLUG_TELEPHONY__TRANSFER__ANNOUNCEMENT": ANNOUNCEMENT,
        "VOXPLUG_TELEPHONY__INBOUND__HEADERS_TO_ATTRIBUTES": json.dumps({"X-Customer-Id": "customer_id"}),
        "VOXPLUG_TELEPHONY__OUTBOUND__ADDRESS": callee.address,
        "VOXPLUG_TELEPHONY__OUTBOUND__NUMBER": TRUNK_NUMBER,
        "VOXPLUG_PERSISTENCE__DATA_DIR": str(data_dir),
        # Whisper + Piper load in each job process: generous on a loaded machine
        "VOXPLUG_WORKER__INITIALIZE_PROCESS_TIMEOUT": "240",
    }
    # the CLI creates the trunks and the dispatch rule, as a user would
    setup = subprocess.run(
        [sys.executable, "-m", "voxplug", "sip", "setup", "--number", TRUNK_NUMBER],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    worker = start_worker(workdir, env, name="phone-worker", timeout=180)
    try:
        yield Deployment(network, worker, env, desk, callee, data_dir)
    finally:
        worker.stop()


def dial_in(deployment: Deployment, *, headers: dict[str, str] | None = None) -> tuple[PhoneCall, float]:
    line = deployment.network.phone.line(CALLER, auto_answer=False)
    dialled = time.monotonic()
    call = line.dial(deployment.network.sip.uri(TRUNK_NUMBER), headers=headers)
    assert call.confirmed.wait(240), f"the call was not answered: {call.state} {call.status_code}"
    return call, dialled


def heard(whisper: Any, call: PhoneCall, window: tuple[float, float]) -> str:
    """What the phone heard from ``start`` until its speech after ``end`` (the agent's record that
    it finished) has ended."""
    start, end = window
    end = call.speech_end_after(end)
    return transcribe(whisper, call.audio(start - 0.3, end + 0.3), call.phone.clock_rate)


def test_sip_setup_and_list_show_the_trunks_and_rule(deployment: Deployment) -> None:
    listed = deployment.cli("sip", "list")
    assert listed.returncode == 0, listed.stderr
    assert "voxplug-inbound" in listed.stdout and TRUNK_NUMBER in listed.stdout
    assert "voxplug-outbound" in listed.stdout and deployment.callee.address in listed.stdout
    assert f"agent={AGENT}" in listed.stdout
    bad = deployment.cli("sip", "setup", "--number", "555-0100")
    assert bad.returncode == 2 and "E.164" in bad.stderr and "Traceback" not in bad.stderr


def test_inbound_call_greets_answers_at_8khz_and_hangup_is_stored(
    deployment: Deployment, whisper: Any, tmp_path: Path, record_property: Any
) -> None:
    identity, before = f"sip_{CALLER}", deployment.known(f"sip_{CALLER}")
    call, dialled = dial_in(deployment, headers={"X-Customer-Id": "cust-42"})
    deployment.wait_for(identity, said(GREETING), after=before)
    greeted = time.monotonic()
    greeting_text = heard(whisper, call, (dialled, greeted))
    assert word_recall(GREETING, greeting_text) >= GREETING_RECALL, greeting_text

    pcm, rate = speech(tmp_path, QUESTION)
    spoken_end = call.play(pcm, rate).result(timeout=60)
    deployment.wait_for(identity, said(REPLY), after=before)
    answered = time.monotonic()
    first_reply_audio = call.first_speech_after(spoken_end)
    assert first_reply_audio is not None, "no reply reached the phone"
    v2v = first_reply_audio - spoken_end
    reply_text = heard(whisper, call, (spoken_end, answered))
    print(f"\nheard: greeting={greeting_text!r} reply={reply_text!r}")
    call.hangup()
    assert call.disconnected.wait(15)

    stored = deployment.wait_for(identity, ended, after=before)
    user_turns = [t for t in stored.turns if t["role"] == "user"]
    replies = [t for t in stored.turns if t["role"] == "assistant" and t["text"] == REPLY]
    # the agent's Whisper heard the 8 kHz caller; the caller's Whisper heard the agent's reply
    stt_recall = word_recall(QUESTION, user_turns[0]["text"])
    reply_recall = word_recall(replies[0]["text"], reply_text)
    record_property("sip_v2v_seconds", round(v2v, 3))
    print(f"\nSIP caller: v2v={v2v:.2f}s stt_recall={stt_recall:.2f} reply_recall={reply_recall:.2f} "
          f"eou={user_turns[0]['end_of_turn_delay']} stt={user_turns[0]['transcription_delay']}")
    # espeak-ng's robotic voice through G.711 costs Whisper base a word or two of nine
    # ("opening hour on the library"): measured 0.78-1.0; the reply is held to 80 %
    assert stt_recall >= 0.6, user_turns[0]["text"]
    assert reply_recall >= 0.8, (replies[0]["text"], reply_text)
    assert v2v > 0  # measured, not bounded: see docs/benchmarks.md for figures on a quiet machine

    # the hang-up ended the session cleanly, and the store knows who called and how it ended
    assert stored.session["close_reason"] == "participant_disconnected"
    assert stored.session["status"] == "completed"
    attrs = stored.attributes
    assert attrs["call.end_reason"] == "caller_hangup"
    assert attrs["call.direction"] == "inbound"
    assert attrs["call.remote_number"] == CALLER and attrs["call.trunk_number"] == TRUNK_NUMBER
    assert attrs["sip.h.x-customer-id"] == "cust-42"  # X- headers copied by the trunk
    assert attrs["customer_id"] == "cust-42"  # headers_to_attributes


def test_keypad_digits_reach_a_tool(deployment: Deployment) -> None:
    identity, before = f"sip_{CALLER}", deployment.known(f"sip_{CALLER}")
    call, _ = dial_in(deployment)
    deployment.wait_for(identity, said(GREETING), after=before)
    call.dtmf("5")
    # the digit becomes a user turn; the LLM answers it by calling current_time
    deployment.wait_for(identity, said("Here you go"), after=before)
    call.hangup()
    stored = deployment.wait_for(identity, ended, after=before)
    keypad = [t for t in stored.turns if t["role"] == "user" and "keypad" in (t["text"] or "")]
    assert keypad and keypad[0]["text"] == "The caller pressed 5 on the keypad."
    assert [c["name"] for c in stored.tool_calls] == ["current_time"]
    assert not stored.tool_calls[0]["is_error"]


def test_transfer_call_refers_the_caller_to_the_desk(deployment: Deployment, whisper: Any) -> None:
    identity, before = f"sip_{CALLER}", deployment.known(f"sip_{CALLER}")
    desk_calls = len([c for c in deployment.desk.calls if c.incoming])
    call, _ = dial_in(deployment)
    deployment.wait_for(identity, said(GREETING), after=before)
    pressed = time.monotonic()
    call.dtmf("1")
    desk = deployment.desk.wait_for_call(desk_calls, timeout=90)
    assert desk.confirmed.wait(30), desk.state
    # LiveKit SIP sent a REFER to the caller's phone, which followed it to the desk
    assert call.transfer_requests and deployment.desk.uri in call.transfer_requests[0]
    assert CALLER in desk.remote_uri
    announcement = heard(whisper, call, (pressed, desk.confirmed_at or time.monotonic()))
    assert word_recall(ANNOUNCEMENT, announcement) >= 0.6, announcement
    desk.hangup()
    stored = deployment.wait_for(identity, ended, after=before)
    assert stored.attributes["call.end_reason"] == "transferred"
    assert stored.attributes["call.transfer_to"] == "desk"
    assert [c["name"] for c in stored.tool_calls] == ["transfer_call"]


def test_outbound_call_is_answered_and_the_agent_speaks_first(deployment: Deployment, whisper: Any) -> None:
    identity, before = f"sip_{CALLEE}", deployment.known(f"sip_{CALLEE}")
    incoming = len([c for c in deployment.callee.calls if c.incoming])
    started = time.monotonic()
    placed = deployment.cli("call", CALLEE, "--timeout", "90")
    assert placed.returncode == 0, placed.stdout + placed.stderr
    assert "answered" in placed.stdout
    callee = deployment.callee.wait_for_call(incoming, timeout=30)
    assert callee.confirmed.wait(30)
    assert TRUNK_NUMBER in callee.headers.get("from", ""), callee.headers  # the trunk's caller ID
    deployment.wait_for(identity, said(GREETING), after=before)
    greeting = heard(whisper, callee, (started, time.monotonic()))
    # the greeting reached the phone; its words are the inbound test's check. Here the job starts
    # with the answer and speaks at once: in loaded fresh-clone runs its VAD fell 3.5 s behind and
    # the phone heard "Thank you for all today." once, "How can I help you today?" another time
    # (LiveKit SIP drops frames that come late); other texts score under 0.2
    assert word_recall(GREETING, greeting) >= 0.3, greeting
    callee.hangup()
    stored = deployment.wait_for(identity, ended, after=before)
    assert stored.attributes["call.direction"] == "outbound"
    assert stored.attributes["call.end_reason"] == "callee_hangup"
    # the agent spoke first: its greeting is the first turn, before anything from the callee
    assert stored.turns[0]["role"] == "assistant" and stored.turns[0]["text"] == GREETING


def test_call_refuses_bad_numbers_without_a_traceback(deployment: Deployment) -> None:
    for number in ("12345", "+0123", "+1555abc"):
        result = deployment.cli("call", number)
        assert result.returncode == 2 and "E.164" in result.stderr and "Traceback" not in result.stderr
