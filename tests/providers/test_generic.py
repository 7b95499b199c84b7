"""Provider ``plugin``: a LiveKit plugin that is not in the catalog, built from YAML alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from livekit.agents import tts

from voxplug import load_config
from voxplug.config.loader import redacted_dump
from voxplug.errors import ConfigError
from voxplug.providers import ProviderFactory

KEY = "acme-secret-0123456789"

# a small third-party plugin package, made here: the catalog knows nothing about it
PLUGIN = '''
from livekit.agents import tts


class TTS(tts.TTS):
    def __init__(self, *, token, speaker="default", model="acme-1", speed=1.0):
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=24000, num_channels=1)
        self.token, self.speaker, self.acme_model, self.speed = token, speaker, model, speed

    @classmethod
    def with_fast(cls, **kwargs):
        built = cls(**kwargs)
        built.fast = True
        return built

    @property
    def provider(self):
        return "acme"

    def synthesize(self, text, *, conn_options=None):
        raise NotImplementedError


class NotATTS:
    def __init__(self, **kwargs):
        pass


def make_something(**kwargs):
    return NotATTS()
'''


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "site" / "livekit_plugins_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(package.parent))
    return tmp_path


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "voxplug.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def tts_section(cls: str = "TTS", module: str = "livekit_plugins_acme") -> str:
    return f"""
        tts:
          provider: plugin
          plugin:
            module: {module}
            class: {cls}
            args: {{api_key: token, voice: speaker}}
            env: {{api_key: ACME_TOKEN}}
          voice: nova
          model: acme-2
          options: {{speed: 1.25}}
    """


def test_a_plugin_outside_the_catalog_is_built_from_yaml_alone(acme: Path) -> None:
    config = load_config(write(acme, tts_section()), env={"ACME_TOKEN": KEY})
    built = ProviderFactory.create_tts(config.tts)
    assert isinstance(built, tts.TTS) and type(built).__module__ == "livekit_plugins_acme"
    assert (built.token, built.speaker, built.acme_model, built.speed) == (KEY, "nova", "acme-2", 1.25)
    # the key is a secret like any vendor's: redacted in the effective config
    assert redacted_dump(config)["tts"]["api_key"] == "**********"
    assert redacted_dump(config)["tts"]["plugin"]["class"] == "TTS"


def test_a_with_constructor_and_fallbacks_work_like_catalog_vendors(acme: Path) -> None:
    body = tts_section("TTS.with_fast") + """
          fallbacks:
            - provider: plugin
              plugin: {module: livekit_plugins_acme, class: TTS, args: {api_key: token}, env: {api_key: ACME_TOKEN}}
    """
    config = load_config(write(acme, body), env={"ACME_TOKEN": KEY})
    built = ProviderFactory.create_tts(config.tts)
    assert isinstance(built, tts.FallbackAdapter)
    primary, backup = built._tts_instances
    assert primary.fast and primary.speed == 1.25
    assert backup.token == KEY and backup.speaker == "default"


def test_a_missing_env_credential_is_one_config_line(acme: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(acme, tts_section()), env={})
    assert err.value.problems == [
        "tts.api_key: missing for provider 'plugin'; set ACME_TOKEN or tts.api_key in voxplug.yaml"
    ]


@pytest.mark.parametrize(
    ("cls", "module", "message"),
    [
        ("TTS", "livekit_plugins_nowhere", "tts.plugin.module: cannot import 'livekit_plugins_nowhere' "
                                           "(ModuleNotFoundError); install its package"),
        ("Nope", "livekit_plugins_acme", "tts.plugin.class: livekit_plugins_acme has no 'Nope'"),
        ("NotATTS", "livekit_plugins_acme", "tts.plugin.class: livekit_plugins_acme.NotATTS is not a tts.TTS; "
                                            "name the plugin's tts class"),
        ("make_something", "livekit_plugins_acme", "tts.plugin.class: livekit_plugins_acme.make_something built "
                                                   "a NotATTS, not a tts.TTS"),
    ],
)
def test_a_module_or_class_that_is_not_a_plugin_is_one_clear_line(
    acme: Path, cls: str, module: str, message: str
) -> None:
    config = load_config(write(acme, tts_section(cls, module)), env={"ACME_TOKEN": KEY})
    with pytest.raises(ConfigError) as err:
        ProviderFactory.create_tts(config.tts)
    assert err.value.problems == [message]


def test_bad_plugin_references_are_rejected_by_validation(acme: Path) -> None:
    body = """
        tts:
          provider: plugin
          plugin: {module: "os; rm -rf /", class: TTS, env: {not_a_field: X}}
    """
    with pytest.raises(ConfigError) as err:
        load_config(write(acme, body), env={})
    text = "\n".join(err.value.problems)
    assert "tts.plugin.module" in text and "tts.plugin.env.not_a_field" in text
