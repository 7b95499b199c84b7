"""The CLI contract: exit codes (2 bad input, 1 runtime), logging options on every command,
JSON log lines with LiveKit's fields, and the hand-off of start/dev to LiveKit's runner."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from livekit.agents.cli import cli as livekit_cli
from livekit.agents.cli import proto

from voxplug import cli
from voxplug.cli import worker as worker_cli
from voxplug.cli.contract import report
from voxplug.errors import EXIT_RUNTIME, EXIT_USAGE, ConfigError, UsageError, VoxplugError

FIXED = {"STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_PROVIDER")) and k != "VOXPLUG_CONFIG"}
    return subprocess.run([sys.executable, "-m", "voxplug", *args], capture_output=True, text=True, timeout=180,
                          env={**clean, **(env or {})})


def _leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(prefix, parser)]
    return [
        leaf for action in subs for name, child in action.choices.items() for leaf in _leaves(child, (*prefix, name))
    ]


def test_every_command_takes_the_logging_options() -> None:
    parser = cli.build_parser()
    leaves = _leaves(parser)
    assert len(leaves) >= 15  # start, dev, providers list, config check/show, simulate, console, token, ...
    for name, leaf in leaves:
        level = leaf._option_string_actions.get("--log-level")
        fmt = leaf._option_string_actions.get("--log-format")
        assert level is not None and fmt is not None, name
        assert tuple(level.choices) == ("debug", "info", "warning", "error") and tuple(fmt.choices) == ("text", "json")
    args = parser.parse_args(["config", "check", "--log-level", "DEBUG", "--log-format", "json"])
    assert (args.log_level, args.log_format) == ("debug", "json")
    args = parser.parse_args(["--log-level", "warning", "providers", "list"])  # before the command too
    assert args.log_level == "warning"


def test_exit_codes_follow_the_error_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(ConfigError("a: bad", "b: worse")) == EXIT_USAGE
    assert report(UsageError("--since: not a date")) == EXIT_USAGE
    assert report(VoxplugError("database unreachable")) == EXIT_RUNTIME
    assert report(RuntimeError("a bug\nwith two lines")) == EXIT_RUNTIME
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: a: bad", "error: b: worse", "error: --since: not a date", "error: database unreachable",
                   "error: unexpected RuntimeError: a bug with two lines (run with --log-level debug for details)"]


def test_runtime_failure_exits_1_and_bad_input_exits_2(tmp_path: Path) -> None:
    unreachable = run("sessions", "list", env={"DATABASE_URL": "postgresql://u:pw-0123@127.0.0.1:9/db"})
    assert unreachable.returncode == 1, unreachable.stderr
    assert unreachable.stderr.startswith("error: ") and "pw-0123" not in unreachable.stderr
    bad = run("sessions", "list", "--since", "soon")
    assert bad.returncode == 2 and "--since 'soon' is not a duration" in bad.stderr


def test_log_level_debug_and_json_lines(tmp_path: Path) -> None:
    out = run("config", "check", "--log-level", "debug", "--log-format", "json", env=FIXED)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert lines, out.stderr
    # LiveKit's JSON log fields, so one log pipeline reads the worker's and the CLI's lines
    assert {"level", "name", "message", "timestamp"} <= set(lines[0])
    assert any(line["level"] == "DEBUG" for line in lines)
    quiet = run("config", "check", "--log-level", "error", env=FIXED)
    assert quiet.returncode == 0 and quiet.stderr == ""
    bad = run("config", "check", env={**FIXED, "VOXPLUG_LOG_FORMAT": "xml"})
    assert bad.returncode == 2 and bad.stderr.startswith("error: VOXPLUG_LOG_FORMAT: 'xml' is not one of text, json")


def test_start_and_dev_hand_off_to_livekit_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    # the private runner voxplug calls must keep the shape it was written against
    assert list(inspect.signature(livekit_cli._run_worker).parameters) == ["server", "args"]
    assert {"log_level", "log_format", "url", "api_key", "api_secret", "dev"} <= set(
        inspect.signature(proto.CliArgs).parameters
    )
    calls: list[tuple[Any, proto.CliArgs]] = []
    monkeypatch.setattr(worker_cli.livekit_cli, "_run_worker", lambda server, args: calls.append((server, args)))
    env = {**FIXED, "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
           "LIVEKIT_API_SECRET": "secret-0123456789abcdef0123456789ab", "VOXPLUG_TELEMETRY__ENABLED": "false"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["start", "--log-level", "debug"]) == 0
    assert cli.main(["dev", "--log-format", "json"]) == 0
    (server, start), (_, dev) = calls
    assert type(server).__name__ == "AgentServer"
    assert (start.log_level, start.log_format, start.dev, start.url) == ("DEBUG", "json", False, "ws://127.0.0.1:7880")
    assert (dev.log_level, dev.log_format, dev.dev) == ("INFO", "json", True)
    assert cli.main(["start", "--log-format", "text"]) == 0
    assert calls[-1][1].log_format == "colored"
