"""A real AgentSession in text mode, built from config, calling a tool through the LLM."""

from __future__ import annotations

from fakes.vendor_server import VendorServer, compatible_stages
from voxplug import load_config
from voxplug.core.agent import VoiceAssistantAgent
from voxplug.core.observers import SessionObserver, TurnRecord
from voxplug.core.session import attach_observers, build_session, session_info


class Recorder(SessionObserver):
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []
        self.tools: list[str] = []
        self.started = False

    def on_session_started(self, info) -> None:  # type: ignore[no-untyped-def]
        self.started = True

    def on_turn_completed(self, turn: TurnRecord) -> None:
        self.turns.append(turn)

    def on_function_tools_executed(self, ev) -> None:  # type: ignore[no-untyped-def]
        self.tools += [call.name for call in ev.function_calls]


async def test_text_turn_with_tool_call_reaches_observers() -> None:
    async with VendorServer(
        reply="It is noon in Paris.", tool_call=("current_time", {"timezone": "Europe/Paris"})
    ) as srv:
        cfg = load_config(env={**compatible_stages(srv.url), "AGENT_GREETING": "Hi, I am voxplug."})
        session = build_session(cfg)
        recorder = Recorder()
        attach_observers(session, session_info(cfg, session), [recorder])
        await session.start(VoiceAssistantAgent(cfg.agent))
        try:
            if session.current_speech is not None:  # let the greeting finish, as a caller would
                await session.current_speech.wait_for_playout()
            result = await session.run(user_input="What time is it in Paris?")
            result.expect.next_event().is_function_call(name="current_time")
            output = result.expect.next_event().is_function_call_output()
            assert "Europe/Paris" in output.event().item.output
            result.expect.next_event().is_message(role="assistant")
            result.expect.no_more_events()
        finally:
            await session.aclose()

    # the tool schema the LLM was offered, and the tool result it was sent back
    first, second = srv.find("/chat/completions")[:2]
    offered = {t["function"]["name"] for t in first.body["tools"]}
    assert offered == {"current_time"}
    assert any(m["role"] == "tool" and "Europe/Paris" in m["content"] for m in second.body["messages"])
    assert recorder.started
    assert recorder.tools == ["current_time"]
    # the greeting (session.say, no LLM call) is a turn of its own, then the answered one
    assert [t.assistant_text for t in recorder.turns] == ["Hi, I am voxplug.", "It is noon in Paris."]
    assert [t.user_text for t in recorder.turns] == ["", "What time is it in Paris?"]
