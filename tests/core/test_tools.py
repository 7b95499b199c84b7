"""Built-in tools and the structured logging observer."""

from __future__ import annotations

import ast
import logging
from datetime import datetime

import pytest
from livekit.agents import ToolError

from voxplug.core.observers import LoggingObserver, SessionInfo, TurnRecord
from voxplug.core.tools import _evaluate, calculate, current_time, resolve_tools, spoken_time
from voxplug.errors import ConfigError


async def test_current_time_names_the_zone_and_rejects_unknown_ones() -> None:
    text = await current_time(None, "Asia/Tokyo")  # type: ignore[arg-type]
    assert text.endswith("(Asia/Tokyo)")
    # a 12-hour clock, as a voice says it
    assert spoken_time(datetime(2026, 12, 2, 5, 4), "Asia/Tokyo") == "5:04 AM, Wednesday 2 December 2026 (Asia/Tokyo)"
    assert spoken_time(datetime(2026, 12, 1, 0, 30), "UTC") == "12:30 AM, Tuesday 1 December 2026 (UTC)"
    assert spoken_time(datetime(2026, 12, 1, 12, 0), "UTC") == "12:00 PM, Tuesday 1 December 2026 (UTC)"
    assert spoken_time(datetime(2026, 12, 1, 23, 59), "UTC") == "11:59 PM, Tuesday 1 December 2026 (UTC)"
    with pytest.raises(ToolError, match="unknown time zone"):
        await current_time(None, "Mars/Olympus")  # type: ignore[arg-type]


async def test_calculate_is_arithmetic_only() -> None:
    # the whole equation goes back to the LLM, the result as a voice reads it
    assert await calculate(None, " 12 * (3 + 4) ") == "12 * (3 + 4) = 84"  # type: ignore[arg-type]
    assert await calculate(None, "2 ** 10 / 4") == "2 ** 10 / 4 = 256"  # type: ignore[arg-type]
    assert await calculate(None, "104 / 12") == "104 / 12 = 8.6667"  # type: ignore[arg-type]
    assert await calculate(None, "0.1 + 0.2") == "0.1 + 0.2 = 0.3"  # type: ignore[arg-type]
    assert await calculate(None, "10 ** 20") == "10 ** 20 = 1e+20"  # type: ignore[arg-type]
    # percentages as people say them; "%" between two operands is still the remainder
    assert await calculate(None, "15% of 80") == "15% of 80 = 12"  # type: ignore[arg-type]
    assert await calculate(None, "80 * 15%") == "80 * 15% = 12"  # type: ignore[arg-type]
    assert await calculate(None, "2.5 % OF (40 + 40)") == "2.5 % OF (40 + 40) = 2"  # type: ignore[arg-type]
    assert await calculate(None, "10 % 3") == "10 % 3 = 1"  # type: ignore[arg-type]
    assert await calculate(None, "10 % (4 - 1)") == "10 % (4 - 1) = 1"  # type: ignore[arg-type]
    hostiles = ("__import__('os').system('true')", "9 ** 9999", "1 / 0", "x + 1", "1+" * 200 + "1", "5% of", "% of 3")
    for hostile in hostiles:
        with pytest.raises(ToolError):
            await calculate(None, hostile)  # type: ignore[arg-type]
    with pytest.raises(ToolError):
        _evaluate(ast.parse("[1]", mode="eval"))


def test_resolve_tools_rejects_unknown_names() -> None:
    assert [t.info.name for t in resolve_tools(["calculate"])] == ["calculate"]
    with pytest.raises(ConfigError, match=r"agent\.tools: unknown tool 'rm_rf'"):
        resolve_tools(["rm_rf"])


def test_logging_observer_keeps_transcripts_out_unless_enabled(caplog: pytest.LogCaptureFixture) -> None:
    info = SessionInfo(agent_name="a", stt="x/y", llm="x/y", tts="x/y", config_fingerprint="f")
    turn = TurnRecord(index=0, user_text="my card number is 4242", assistant_text="ok", interrupted=False,
                      created_at=0.0, e2e_latency=0.81)
    caplog.set_level(logging.INFO, logger="voxplug.core.observers")
    quiet = LoggingObserver()
    quiet.on_session_started(info)
    quiet.on_turn_completed(turn)
    record = caplog.records[-1]
    assert "e2e=0.810s" in record.getMessage()
    assert record.voxplug["session_id"] == info.session_id  # type: ignore[attr-defined]
    assert "user_text" not in record.voxplug  # type: ignore[attr-defined]
    LoggingObserver(include_transcripts=True).on_turn_completed(turn)
    assert caplog.records[-1].voxplug["user_text"] == "my card number is 4242"  # type: ignore[attr-defined]
