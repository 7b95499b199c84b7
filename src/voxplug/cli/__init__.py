"""The ``voxplug`` command line.

Every user-facing failure is one line on stderr and exit code 2 (bad input) or 1 (runtime);
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from ..config.loader import CONFIG_ENV, load_config, redacted_dump
from ..config.models import VoxplugConfig
from ..errors import ConfigError, VoxplugError

__all__ = ["main"]

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def _secrets(config: VoxplugConfig) -> list[str]:
    values = [section.secret() or "" for _, section in config.stage_configs()]
    values += config.persistence.secret_values()
    return [v for v in values if len(v) >= 4]


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "**********")
    return text


# -- providers ---------------------------------------------------------------------------
def cmd_providers_list(args: argparse.Namespace) -> int:
    from ..providers.registry import STAGES, ProviderFactory

    rows = [("STAGE", "PROVIDER", "INSTALL", "INSTALLED", "CREDENTIALS")]
    for stage in STAGES:
        for name in ProviderFactory.list_providers(stage):
            spec = ProviderFactory.spec(stage, name)
            creds = []
            for cred in spec.credentials:
                if not cred.required:
                    continue
                present = any(os.environ.get(env) for env in cred.env)
                creds.append(f"{cred.env[0]}={'set' if present else 'missing'}")
            rows.append((
                stage,
                name,
                spec.install_hint() or "built in",
                "yes" if spec.installed() else "no",
                ", ".join(creds) or "none needed",
            ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


# -- config ------------------------------------------------------------------------------
async def _build_all(config: VoxplugConfig) -> list[str]:
    """Construct every plugin (no network) and report what fails, one line per stage."""
    from ..core.tools import resolve_tools
    from ..providers.registry import ProviderFactory

    problems: list[str] = []
    try:
        resolve_tools(config.agent.tools)
    except ConfigError as exc:
        problems += exc.problems
    builders: dict[str, Any] = {
        "stt": lambda: ProviderFactory.create_stt(config.stt),
        "llm": lambda: ProviderFactory.create_llm(config.llm),
        "tts": lambda: ProviderFactory.create_tts(config.tts),
    }
    if config.session.noise_cancellation:
        from ..worker import room_options

        try:
            room_options(config)
        except VoxplugError as exc:
            problems.append(f"session.noise_cancellation: {exc}")
    for stage, build in builders.items():
        try:
            built = build()
        except ConfigError as exc:
            problems += exc.problems
        except VoxplugError as exc:
            problems.append(f"{stage}.provider: {exc}")
        except Exception as exc:  # a vendor constructor rejecting a value
            problems.append(f"{stage}: {type(exc).__name__}: {exc}")
        else:
            close = getattr(built, "aclose", None)
            if close is not None:
                await close()
    return problems


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    problems = asyncio.run(_build_all(config))
    if problems:
        secrets = _secrets(config)
        for line in problems:
            print(f"error: {redact(line, secrets)}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"config ok: stt={config.stt.provider} llm={config.llm.provider} tts={config.tts.provider} "
        f"turn_detection={config.session.turn_detection}"
    )
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    import yaml

    config = load_config(args.config)
    data = redacted_dump(config)
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False).rstrip())
    return EXIT_OK


# -- worker ------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    from livekit.agents import cli

    from ..worker import build_server

    if args.config:
        # job processes are spawned: they find the same file through the environment
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    config = load_config(args.config)
    missing = [n for n in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not os.environ.get(n)]
    if missing:
        raise ConfigError(f"worker: {', '.join(missing)} not set; point them at your LiveKit server")
    server = build_server(config)
    sys.argv = [sys.argv[0], args.command, *args.livekit_args]
    cli.run_app(server)
    return EXIT_OK


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxplug", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH", help="YAML config file (default: ./voxplug.yaml)")
        return p

    for name, text in (("start", "run a production LiveKit worker"), ("dev", "run a worker in dev mode")):
        p = with_config(sub.add_parser(name, help=text))
        p.add_argument("livekit_args", nargs=argparse.REMAINDER, help="passed on to the LiveKit CLI")
        p.set_defaults(func=cmd_worker)

    providers = sub.add_parser("providers", help="registered providers")
    psub = providers.add_subparsers(dest="action", required=True, metavar="ACTION")
    psub.add_parser("list", help="stages x providers, extras and credentials").set_defaults(
        func=cmd_providers_list
    )

    config = sub.add_parser("config", help="validate or show the configuration")
    csub = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    with_config(csub.add_parser("check", help="validate and build every plugin")).set_defaults(
        func=cmd_config_check
    )
    show = with_config(csub.add_parser("show", help="the effective config, secrets redacted"))
    show.add_argument("--format", choices=("yaml", "json"), default="yaml")
    show.set_defaults(func=cmd_config_show)

    from ..persistence.cli import add_persistence_commands
    from ..room.cli import add_room_commands
    from ..simulate.cli import add_simulate_commands

    add_simulate_commands(sub, with_config)
    add_room_commands(sub, with_config)
    add_persistence_commands(sub, with_config)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except VoxplugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
