"""The genuinely odd cases of the catalog: behaviour a keyword mapping cannot express.

Each hook gets the stage section, its field path (``stt``, ``llm``...) and the keywords the
row mapped so far, and returns the keywords to pass. Keep this file short: a vendor that
only renames keywords is a row, not a hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.models import StageConfig
from ..errors import ConfigError
from .builder import Hook

__all__ = [
    "aws_credentials",
    "aws_transcribe_credentials",
    "azure_openai_deployment",
    "azure_speech_region",
        "google_cloud_credentials",
    "google_genai_auth",
    "hume_voice",
    "languages_as_list",
    "soniox_options",
]


def azure_openai_deployment(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    # the deployment name defaults to the model name, Azure's own convention
    if "azure_deployment" not in kwargs and kwargs.get("model"):
        kwargs["azure_deployment"] = kwargs["model"]
    return kwargs


def azure_speech_region(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    if not (cfg.region or cfg.endpoint):
        raise ConfigError(
            f"{where}.region: missing for provider 'azure-speech'; set AZURE_SPEECH_REGION "
            f"(or AZURE_SPEECH_ENDPOINT) or {where}.region in voxplug.yaml"
        )
    return kwargs


def _credentials_file(cfg: StageConfig, where: str) -> str | None:
    if cfg.credentials_file is None:
        return None
    path = Path(cfg.credentials_file).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"{where}.credentials_file: {str(path)!r} is not a file; point GOOGLE_APPLICATION_CREDENTIALS "
            "(or this field) at a service-account JSON key"
        )
    return str(path)


def google_cloud_credentials(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Cloud Speech / Text-to-Speech: a service-account file, else Application Default Credentials."""
    path = _credentials_file(cfg, where)
    if path is not None:
        kwargs["credentials_file"] = path
    return kwargs


def google_genai_auth(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Gemini (LLM, Live): an API key (Gemini API) or a project (Vertex AI, service account)."""
    path = _credentials_file(cfg, where)
    if cfg.project or path:
        kwargs["vertexai"] = True
        if path is not None:
            from google.oauth2 import service_account  # installed with livekit-plugins-google

            kwargs["credentials"] = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                path, scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        kwargs.pop("api_key", None)
    elif not cfg.api_key:
        raise ConfigError(
            f"{where}.api_key: missing for Gemini; set GOOGLE_API_KEY (Gemini API), or "
            "GOOGLE_CLOUD_PROJECT (Vertex AI, with GOOGLE_APPLICATION_CREDENTIALS or ambient credentials)"
        )
    return kwargs


def _aws_pair(cfg: StageConfig, where: str) -> tuple[str, str] | None:
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    secret = cfg.api_secret.get_secret_value() if cfg.api_secret else None
    if bool(key) != bool(secret):
        missing = "api_secret (AWS_SECRET_ACCESS_KEY)" if key else "api_key (AWS_ACCESS_KEY_ID)"
        raise ConfigError(
            f"{where}.{missing.split()[0]}: AWS keys come in pairs; set {missing.split()[1].strip('()')}, "
            "or neither to use the AWS credential chain (profile, instance role)"
        )
    return (key, secret) if key and secret else None


def aws_credentials(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Polly, Bedrock: a key pair, or neither for boto's credential chain."""
    _aws_pair(cfg, where)
    return kwargs


def aws_transcribe_credentials(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Transcribe takes its key pair as one ``Credentials`` object."""
    pair = _aws_pair(cfg, where)
    if pair is not None:
        # the aws extra is optional: imported only when an AWS row is built
        from livekit.plugins.aws.stt import Credentials

        kwargs["credentials"] = Credentials(access_key_id=pair[0], secret_access_key=pair[1])
    return kwargs


def languages_as_list(keyword: str) -> Hook:
    """For plugins that take a list of languages: ``language: fr`` becomes ``[fr]``."""

    def hook(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(kwargs.get(keyword), str):
            kwargs[keyword] = [kwargs[keyword]]
        return kwargs

    return hook


def hume_voice(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    # Hume takes a voice as {"name": ...} or {"id": ...}; a UUID is an id
    voice = kwargs.get("voice")
    if isinstance(voice, str):
        looks_like_id = len(voice) == 36 and voice.count("-") == 4
        kwargs["voice"] = {"id": voice} if looks_like_id else {"name": voice}
    return kwargs


def soniox_options(cfg: StageConfig, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    # the model and language travel in one STTOptions object
    # the soniox extra is optional: imported only when a Soniox row is built
    from livekit.plugins.soniox import STTOptions

    model = kwargs.pop("model", None)
    language = kwargs.pop("language", None)
    params = {"model": model} if model else {}
    if language:
        params["language_hints"] = [language]
    if params:
        kwargs["params"] = STTOptions(**params)
    return kwargs
