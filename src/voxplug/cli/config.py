"""``voxplug providers list``, ``voxplug config check`` and ``voxplug config show``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

import yaml

from ..config.loader import redacted_dump
from ..config.models import VoxplugConfig
from ..core.agents import check_agents
from ..core.session import StageModels, build_stage_models
from ..core.toolbox import describe_tools
from ..errors import EXIT_OK, ConfigError, VoxplugError
from ..providers import ProviderFactory, load_config
from ..providers.listing import provider_rows, render
from ..redaction import collect_secrets
from ..worker import room_options
from .contract import Subparsers, WithConfig, remember_secrets

__all__ = ["add_commands", "build_all"]


def cmd_providers_list(args: argparse.Namespace) -> int:
    print(render(provider_rows()))
    return EXIT_OK


async def build_all(config: VoxplugConfig, *, connect: bool = False) -> tuple[list[str], list[str]]:
    """Construct every plugin and agent (no network; with ``connect``, list each MCP server's
    tools): the tool lines, and what fails, one line per problem."""
    problems = check_agents(config)
    tools, unreachable = await describe_tools(config, connect=connect)
    problems += unreachable
    builders: dict[str, Callable[[], Any]] = {
        "stt": lambda: ProviderFactory.create_stt(config.stt),
        "llm": lambda: ProviderFactory.create_llm(config.llm),
        "tts": lambda: ProviderFactory.create_tts(config.tts),
    }
    if ProviderFactory.is_realtime(config.llm.provider):
        # a realtime model is built with its companions: impossible combinations are errors
        builders = {"llm": lambda: build_stage_models(config)}
    if config.session.noise_cancellation:
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
            models = (built.stt, built.llm, built.tts) if isinstance(built, StageModels) else (built,)
            for model in models:
                close = getattr(model, "aclose", None)
                if close is not None:
                    await close()
    return tools, problems


def _load(args: argparse.Namespace) -> VoxplugConfig:
    config = load_config(args.config)
    remember_secrets(collect_secrets(config))
    return config


def cmd_config_check(args: argparse.Namespace) -> int:
    config = _load(args)
    tools, problems = asyncio.run(build_all(config, connect=args.connect))
    for line in tools:
        print(line)
    if problems:
        raise ConfigError(*problems)
    print(
        f"config ok: stt={config.stt.provider} llm={config.llm.provider} tts={config.tts.provider} "
        f"turn_detection={config.session.turn_detection}"
    )
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    data = redacted_dump(_load(args))
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False).rstrip())
    return EXIT_OK


def add_commands(sub: Subparsers, with_config: WithConfig) -> None:
    """Add ``providers`` and ``config``."""
    providers = sub.add_parser("providers", help="registered providers")
    psub = providers.add_subparsers(dest="action", required=True, metavar="ACTION")
    psub.add_parser("list", help="stages x providers, extras and credentials").set_defaults(
        func=cmd_providers_list
    )

    config = sub.add_parser("config", help="validate or show the configuration")
    csub = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = with_config(csub.add_parser("check", help="validate and build every plugin, agent and tool"))
    check.add_argument("--connect", action="store_true", help="also connect to each MCP server and list its tools")
    check.set_defaults(func=cmd_config_check)
    show = with_config(csub.add_parser("show", help="the effective config, secrets redacted"))
    show.add_argument("--format", choices=("yaml", "json"), default="yaml")
    show.set_defaults(func=cmd_config_show)


