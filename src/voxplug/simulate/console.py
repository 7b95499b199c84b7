"""``voxplug console``: chat with the configured agent in the terminal.

Typed lines go to the agent as user turns; replies (and tool calls) are printed. The
session is the one ``build_session`` makes from the configuration, in text mode: no
microphone, no VAD, no STT. Replies are spoken aloud only when an output sound device
exists (``sounddevice`` and PortAudio are imported lazily and never required).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any, TextIO

from livekit.agents import ChatMessage, ConversationItemAddedEvent, ErrorEvent, FunctionToolsExecutedEvent

from ..config.models import VoxplugConfig
from ..core.agent import VoiceAssistantAgent
from ..core.session import SessionModels, attach_observers, build_session, session_info
from .audio import OutputSegment, RecordingAudioOutput

__all__ = ["output_device_available", "run_console"]

QUIT_COMMANDS = {"/quit", "/exit", "/q"}
logger = logging.getLogger(__name__)


def output_device_available() -> bool:
    """True if ``sounddevice`` loads (PortAudio present) and reports an output device."""
    try:
        # optional at run time: sounddevice needs the PortAudio library, absent on servers
        import sounddevice as sd
    except (ImportError, OSError):
        return False
    try:
        sd.query_devices(kind="output")
    except Exception:
        return False
    return True


class _SpeakerOutput(RecordingAudioOutput):
    """Plays each reply segment on the default output device once it is complete."""

    def __init__(self) -> None:
        super().__init__(label="voxplug-console-speaker")
        import sounddevice as sd  # only built after output_device_available() said it loads

        self._sd = sd

    async def _play_out(self, seg: OutputSegment) -> None:
        try:
            self._sd.play(seg.samples(), seg.sample_rate)
        except Exception as exc:  # a device vanishing must not end the chat
            logger.warning("cannot play audio: %s", exc)
        await super()._play_out(seg)

    def clear_buffer(self) -> None:
        super().clear_buffer()
        with contextlib.suppress(Exception):
            self._sd.stop()


class _TextAgent(VoiceAssistantAgent):
    """The configured agent without speech recognition: typed turns need no STT."""

    @property
    def stt(self) -> None:
        return None


def _text_config(config: VoxplugConfig) -> VoxplugConfig:
    cfg = config.model_copy(deep=True)
    # typed turns are committed as text: no VAD, no audio turn detection
    cfg.session.vad = "none"
    cfg.session.turn_detection = "manual"
    return cfg


async def run_console(
    config: VoxplugConfig,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    speak: bool | None = None,
    greeting_timeout: float = 10.0,
) -> int:
    """Read lines from ``stdin`` until EOF or ``/quit``; print the agent's replies to ``stdout``."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() if hasattr(stdin, "isatty") else False
    if speak is None:
        speak = output_device_available()

    def say(line: str) -> None:
        print(line, file=stdout, flush=True)

    cfg = _text_config(config)
    session = build_session(cfg, models=SessionModels(vad=None, turn_detector=None))
    hub = attach_observers(session, session_info(cfg, session, room="console"), [])
    if speak:
        try:
            session.output.audio = _SpeakerOutput()
        except Exception as exc:
            say(f"(audio off: {exc})")
            speak = False

    first_reply = asyncio.Event()

    def on_item(ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        text = (item.text_content or "").strip() if isinstance(item, ChatMessage) else ""
        if isinstance(item, ChatMessage) and item.role == "assistant" and text:
            say(f"agent: {text}")
            first_reply.set()

    def on_tools(ev: FunctionToolsExecutedEvent) -> None:
        for call, output in ev.zipped():
            result = output.output if output is not None else ""
            say(f"  [tool {call.name}({call.arguments}) -> {result}]")

    def on_error(ev: ErrorEvent) -> None:
        err: Any = ev.error
        if not getattr(err, "recoverable", True):
            inner = getattr(err, "error", err)
            say(f"error: {type(ev.source).__name__}: {inner}")

    session.on("conversation_item_added", on_item)
    session.on("function_tools_executed", on_tools)
    session.on("error", on_error)

    try:
        await session.start(_TextAgent(cfg.agent), record=False)
        say(
            f"voxplug console - llm={hub.info.llm} tts={hub.info.tts if speak else 'off (text only)'}; "
            "type /quit or Ctrl-D to leave"
        )
        if cfg.agent.greeting:
            try:
                await asyncio.wait_for(first_reply.wait(), timeout=greeting_timeout)
            except TimeoutError:
                say("(no greeting received)")
        while True:
            if interactive:
                print("you> ", end="", file=stdout, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in QUIT_COMMANDS:
                break
            if not interactive:
                say(f"you: {text}")  # piped input: keep the transcript readable
            try:
                await session.run(user_input=text)
            except Exception as exc:
                say(f"error: {type(exc).__name__}: {exc}")
    finally:
        await session.aclose()
        await hub.aclose()
    return 0
