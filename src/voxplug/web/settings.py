"""The page's settings panel: one row per field that ``overrides.allow`` may list.

The panel offers only what the operator allowed; a visitor's choice is checked here before
it goes into the token's dispatch metadata, and checked again by the worker
(:func:`voxplug.core.overrides.apply_overrides`), which is the authority.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..config.models import VoxplugConfig
from ..core.overrides import TEXT_LIMITS, text_limit
from ..errors import ConfigError

__all__ = ["SETTINGS", "PageSetting", "page_settings", "parse_settings"]

Kind = Literal["text", "textarea", "select", "number"]
# BCP 47 language tags as the STT and TTS plugins take them: "en", "pt-BR", "zh-Hant-TW"
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
# control characters other than the newlines a textarea holds
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# how much of an unknown key an error repeats back, and which characters of it
KEY_ECHO = 40
UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class PageSetting:
    key: str
    label: str
    kind: Kind
    help: str
    max_length: int = 100  # the instructions and greeting: the worker's own limits instead
    pattern: re.Pattern[str] | None = None
    minimum: float = 0.0
    maximum: float = 0.0
    # the configured value is shown as the placeholder: False for the system prompt
    show_default: bool = True

    def max_length_for(self, config: VoxplugConfig) -> int:
        """The most characters a value may have: the worker's own limit where it has one."""
        return text_limit(self.key, config.overrides)[1] if self.key in TEXT_LIMITS else self.max_length


_ROWS = (
    PageSetting("agent.instructions", "Instructions", "textarea",
                "What the agent is told to do (its system prompt).", show_default=False),
    PageSetting("agent.greeting", "Greeting", "text", "The first thing the agent says."),
    PageSetting("llm.model", "Model", "select", "The language model that writes the replies."),
    PageSetting("llm.temperature", "Temperature", "number", "0 (focused) to 2 (varied).", minimum=0.0, maximum=2.0),
    PageSetting("stt.language", "Your language", "text", "Language tag for speech recognition, e.g. en or de-DE.",
                max_length=35, pattern=LANGUAGE),
    PageSetting("tts.voice", "Voice", "text", "A voice name or id of the configured text-to-speech vendor."),
    PageSetting("tts.language", "Agent's language", "text", "Language tag for the agent's voice, e.g. en or fr.",
                max_length=35, pattern=LANGUAGE),
)
SETTINGS: dict[str, PageSetting] = {row.key: row for row in _ROWS}


def _configured(config: VoxplugConfig, key: str) -> Any:
    section, field = key.split(".")
    return getattr(getattr(config, section), field)


def _model_choices(config: VoxplugConfig) -> list[str]:
    models = [config.llm.model, *config.overrides.llm_models]
    return list(dict.fromkeys(m for m in models if m))


def page_settings(config: VoxplugConfig) -> list[dict[str, Any]]:
    """The panel's rows for the page, in ``overrides.allow`` order."""
    rows: list[dict[str, Any]] = []
    for key in dict.fromkeys(config.overrides.allow):
        setting = SETTINGS[key]
        default = _configured(config, key) if setting.show_default else None
        row: dict[str, Any] = {
            "key": key,
            "label": setting.label,
            "kind": setting.kind,
            "help": setting.help,
            "max_length": setting.max_length_for(config) if setting.kind in ("text", "textarea") else None,
            "placeholder": "" if default is None else str(default),
        }
        if setting.kind == "select":
            row["choices"] = _model_choices(config)
        if setting.kind == "number":
            row |= {"min": setting.minimum, "max": setting.maximum}
        rows.append(row)
    return rows


def _check(setting: PageSetting, value: Any, config: VoxplugConfig) -> tuple[Any, str | None]:
    """(the cleaned value or None for "keep the default", a problem or None)."""
    where = f"settings.{setting.key}"
    if setting.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None, f"{where}: must be a number"
        if not setting.minimum <= value <= setting.maximum:
            return None, f"{where}: must be between {setting.minimum:g} and {setting.maximum:g}"
        return float(value), None
    if not isinstance(value, str):
        return None, f"{where}: must be text"
    text = value.strip()
    if not text:
        return None, None
    limit = setting.max_length_for(config)
    if len(text) > limit:
        return None, f"{where}: at most {limit} characters"
    if CONTROL.search(text) or (setting.kind != "textarea" and "\n" in text):
        return None, f"{where}: control characters are not allowed"
    if setting.pattern is not None and not setting.pattern.match(text):
        return None, f"{where}: not a language tag such as en or pt-BR"
    if setting.kind == "select" and text not in _model_choices(config):
        return None, f"{where}: not one of the offered choices"
    return text, None


def parse_settings(raw: Any, config: VoxplugConfig) -> dict[str, Any]:
    """A visitor's settings as dotted overrides, limited to ``overrides.allow``.

    Raises :class:`ConfigError` with one line per refused field; values are never echoed.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("settings: must be an object of setting: value")
    allowed = set(config.overrides.allow)
    chosen: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        if not isinstance(key, str) or key not in allowed:
            shown = UNSAFE_KEY.sub("?", str(key)[:KEY_ECHO])
            problems.append(f"settings.{shown}: not a setting this agent allows (overrides.allow)")
            continue
        cleaned, problem = _check(SETTINGS[key], value, config)
        if problem:
            problems.append(problem)
        elif cleaned is not None:
            chosen[key] = cleaned
    if problems:
        raise ConfigError(*problems[: len(SETTINGS) + 1])
    return chosen
