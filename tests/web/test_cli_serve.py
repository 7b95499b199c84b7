"""``voxplug serve`` on the command line: bad input is one line and exit code 2."""

from __future__ import annotations

import socket

import pytest

from voxplug.cli import main
from voxplug.web.server import DEFAULT_OVERALL, DEFAULT_PER_CLIENT

FIXED = {"STT_PROVIDER": "fixed", "LLM_PROVIDER": "fixed", "TTS_PROVIDER": "fixed",
         "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "key", "LIVEKIT_API_SECRET": "secret"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FIXED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VOXPLUG_SERVE_SECRET", raising=False)
    monkeypatch.delenv("VOXPLUG_WORKER__AGENT_NAME", raising=False)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--host", "0.0.0.0", "--agent-name", "a"], {}, "set VOXPLUG_SERVE_SECRET or --auth-hook"),
    (["--host", "0.0.0.0", "--agent-name", "a"], {"VOXPLUG_SERVE_SECRET": "short"}, "at least 16 characters"),
    (["--agent-name", "a", "--auth-hook", "no.such.module:check"], {}, "--auth-hook: cannot import 'no.such.module'"),
    (["--agent-name", "a", "--auth-hook", "nocolon"], {}, "is not module:function"),
    (["--agent-name", "a", "--rate-limit", "lots"], {}, "--rate-limit: 'lots' is not N/min"),
    ([], {}, "serve: no agent name"),
    (["--dev", "--host", "0.0.0.0"], {}, "serve --dev: the local LiveKit server listens on 127.0.0.1 only"),
    (["--agent-name", "a"], {"LIVEKIT_URL": ""}, "LIVEKIT_URL"),
])
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert "short" not in err  # a secret, even a bad one, is never repeated


def test_a_busy_port_is_one_line_and_a_runtime_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--agent-name", "a", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def test_token_ttl_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--token-ttl", "5"])
    assert exit_.value.code == 2
    assert "must be between 10 and 3600 seconds" in capsys.readouterr().err


def test_help_gives_the_defaults_the_server_uses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"default {DEFAULT_PER_CLIENT}" in text and f"default {DEFAULT_OVERALL}" in text
