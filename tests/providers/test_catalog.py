"""Every catalog row, built through the factory against the real installed plugin.

Parametrised over the catalog, so a new row is tested for free: the built object is an
instance of the row's plugin class and each voxplug field the row maps (model, voice,
language, base URL, key, ...) is found in the plugin's options. A second test resolves each
row's credentials from its standard environment variable names through the loader.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.catalog import CONFIG_TYPES, PLACEHOLDERS, expected_text, find_value, row_id, section_for
from voxplug import load_config
from voxplug.errors import ConfigError, MissingExtraError
from voxplug.providers import ProviderFactory
from voxplug.providers.builder import Row, Vendor, resolve_attribute
from voxplug.providers.catalog import VENDORS, iter_rows
from voxplug.providers.listing import credentials_markdown

ROWS = list(iter_rows())
IDS = [row_id(v, r) for v, r in ROWS]
GOOGLE_CLOUD = {"stt-google", "tts-google"}
# fields this test leaves out because the plugin prefers another one when both are set
# (Azure Speech: the endpoint over the region; Gemini: Vertex AI's project over the API key,
# tested on its own below)
SKIP = {
    "stt-azure-speech": {"endpoint"}, "tts-azure-speech": {"endpoint"},
    "llm-google": {"project", "location"}, "llm-gemini": {"project", "location"},
    "realtime-google-realtime": {"project", "location"}, "tts-microsoft-ai": {"region"},
}


@pytest.fixture(scope="module")
def service_account(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Google service-account key file with a fresh RSA key (it is never sent anywhere)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path_factory.mktemp("google") / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "catalog-project", "private_key_id": "0" * 40,
        "private_key": pem, "client_email": "voxplug@catalog-project.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    return str(path)


def build(stage: str, cfg: Any) -> Any:
    if stage == "realtime":
        return ProviderFactory.create_realtime(cfg)
    return getattr(ProviderFactory, f"create_{stage}")(cfg)


def plugin_class(vendor: Vendor, row: Row) -> type:
    module = importlib.import_module(vendor.module)
    target = resolve_attribute(module, row.target)
    # a with_* constructor builds an instance of the class it hangs on
    return target if isinstance(target, type) else resolve_attribute(module, row.target.rsplit(".", 1)[0])


def expected_fields(row: Row, section: dict[str, Any]) -> list[str]:
    # when two fields map to one keyword (Deepgram: voice and model), the later one wins
    last = {row.args[f]: f for f in row.args if f in section}
    return list(last.values())


async def close(built: Any) -> None:
    closer = getattr(built, "aclose", None)
    if closer is not None:
        await closer()


@pytest.mark.parametrize(("vendor", "row"), ROWS, ids=IDS)
async def test_every_catalog_row_builds_its_plugin_with_the_mapped_values(
    vendor: Vendor, row: Row, service_account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = row_id(vendor, row)
    spec = ProviderFactory.spec(row.stage, vendor.provider_name(row))
    section = section_for(vendor, row, frozenset(SKIP.get(rid, ())))
    cfg = CONFIG_TYPES[row.stage].model_validate(section)
    if not spec.python_supported():
        # said, not hidden: providers list and the error name the Python it needs
        assert spec.install_state().startswith(f"needs Python {row.python}")
        with pytest.raises(MissingExtraError, match=r"needs Python >=3\.12"):
            build(row.stage, cfg)
        pytest.skip(f"{rid}: the plugin's SDK needs Python {row.python}")
    for cred in vendor.row_credentials(row):
        if cred.env_only:  # the plugin reads these itself
            monkeypatch.setenv(cred.env[0], PLACEHOLDERS[cred.field])
    if rid in GOOGLE_CLOUD:
        cfg = cfg.model_copy(update={"credentials_file": service_account})
    built = build(row.stage, cfg)
    try:
        assert isinstance(built, plugin_class(vendor, row))
        missing = [f for f in expected_fields(row, section) if not find_value(built, expected_text(f, section[f]))]
        assert not missing, f"{rid}: {missing} not found in the plugin's options"
    finally:
        await close(built)


def env_for(vendor: Vendor, row: Row) -> dict[str, str]:
    env = {f"{'LLM' if row.stage == 'realtime' else row.stage.upper()}_PROVIDER": vendor.provider_name(row)}
    for cred in vendor.row_credentials(row):
        if cred.required:
            env[cred.env[0]] = str(PLACEHOLDERS[cred.field])
    return env


@pytest.mark.parametrize(("vendor", "row"), ROWS, ids=IDS)
def test_every_row_reads_its_credentials_from_the_vendor_env_names(vendor: Vendor, row: Row) -> None:
    creds = vendor.row_credentials(row)
    # every credential the loader fills reaches the plugin (or a hook, or the plugin's env)
    unused = [c.field for c in creds if c.field not in row.args and c.field not in row.hook_fields and not c.env_only]
    assert not unused, f"{row_id(vendor, row)}: credentials {unused} are filled but never passed"
    stage = "llm" if row.stage == "realtime" else row.stage
    config = load_config(env=env_for(vendor, row))
    section = getattr(config, stage)
    assert section.provider == vendor.provider_name(row)
    for cred in creds:
        if cred.required:
            value = getattr(section, cred.field)
            shown = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            assert shown == str(PLACEHOLDERS[cred.field])
    if row.stage == "realtime":  # no separate STT/TTS unless asked for
        assert (config.stt.provider, config.tts.provider) == ("none", "none")
    required = [c for c in creds if c.required]
    if required:
        with pytest.raises(ConfigError) as err:
            load_config(env={k: v for k, v in env_for(vendor, row).items() if k != required[0].env[0]})
        assert f"{stage}.{required[0].field}: missing for provider" in str(err.value)
        assert required[0].env[0] in str(err.value)


def test_catalog_meets_the_coverage_targets() -> None:
    vendors = {stage: {s.vendor for s in ProviderFactory.specs(stage) if s.kind == "vendor"}
               for stage in ("stt", "llm", "tts", "realtime")}
    built = {stage: {v for v in names if ProviderFactory.spec(stage, _name(stage, v)).python_supported()}
             for stage, names in vendors.items()}
    assert len(built["stt"]) >= 30 and len(built["llm"]) >= 12 and len(built["tts"]) >= 35
    assert len(built["realtime"]) >= 5
    assert len({v.name for v in VENDORS}) == len(VENDORS), "one vendor, one row set"


def _name(stage: str, vendor: str) -> str:
    return next(s.name for s in ProviderFactory.specs(stage) if s.vendor == vendor and s.kind == "vendor")  # type: ignore[arg-type]


def test_google_vertex_uses_the_project_and_a_service_account_file(service_account: str) -> None:
    cfg = CONFIG_TYPES["llm"].model_validate({
        "provider": "google", "project": "catalog-project", "location": "europe-west4",
        "credentials_file": service_account, "model": "gemini-2.5-flash",
    })
    built = ProviderFactory.create_llm(cfg)
    assert find_value(built, ["catalog-project"]) and find_value(built, ["europe-west4"])
    assert getattr(built._opts, "vertexai", None) is True


def test_odd_cases_fail_with_one_clear_line(tmp_path: Path) -> None:
    cases = [
        ("tts", {"provider": "azure-speech", "api_key": "k" * 12}, r"tts\.region: missing for provider 'azure-speech'"),
        ("stt", {"provider": "google", "credentials_file": str(tmp_path / "nope.json")},
         r"stt\.credentials_file: .*nope\.json' is not a file"),
        ("llm", {"provider": "google"}, r"llm\.api_key: missing for Gemini; set GOOGLE_API_KEY"),
        ("tts", {"provider": "aws", "api_key": "AKIA" + "X" * 16},
         r"tts\.api_secret: AWS keys come in pairs; set AWS_SECRET_ACCESS_KEY"),
        ("tts", {"provider": "rime", "api_key": "k" * 12, "region": "eu"},
         r"tts\.region: provider 'rime' has no region setting"),
    ]
    for stage, section, message in cases:
        cfg = CONFIG_TYPES[stage].model_validate(section)
        with pytest.raises(ConfigError, match=message):
            build(stage, cfg)


def test_the_docs_credentials_table_is_generated_from_the_catalog() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert credentials_markdown() in doc, "run: .venv/bin/python -m voxplug.providers.listing docs/configuration.md"
    for vendor in VENDORS:
        assert f"| `{vendor.name}` |" in doc or vendor.name in doc
