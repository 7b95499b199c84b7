"""``voxplug console``: typed turns in, printed replies out, no sound device needed."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from voxplug import load_config
from voxplug.simulate.console import run_console


async def test_console_chat_with_the_fixed_llm(fixed_config: Path) -> None:
    config = load_config(fixed_config, env={"VOXPLUG_AGENT__GREETING": "Welcome!"})
    stdin = io.StringIO("hello\n\nwhat time is it\n/quit\nnever read\n")
    stdout = io.StringIO()
    code = await run_console(config, stdin=stdin, stdout=stdout, speak=False)
    lines = stdout.getvalue().splitlines()
    assert code == 0
    assert "llm=fixed/fixed" in lines[0] and "text only" in lines[0]
    chat = [line for line in lines[1:] if line.startswith(("agent:", "you:", "  [tool"))]
    assert chat[0] == "agent: Welcome!"
    assert chat[1:3] == ["you: hello", "agent: You said hello."]
    assert chat[3] == "you: what time is it"
    assert chat[4].startswith("  [tool current_time({}) -> ")
    assert chat[5].startswith("agent: Here you go: ")
    assert "never read" not in stdout.getvalue()


def test_console_through_the_cli_reads_stdin_until_eof(
    cli_main: Callable[[list[str]], int], fixed_config: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi there\n"))
    code = cli_main(["console", "--config", str(fixed_config), "--no-speak"])
    out = capsys.readouterr().out
    assert code == 0
    assert "agent: You said hi there." in out
