"""The vendor catalog: every official ``livekit-plugins-*`` (1.8.9) that offers STT, LLM, TTS
or a realtime model, as data.

One :class:`~voxplug.providers.builder.Vendor` per plugin package, one
:class:`~voxplug.providers.builder.Row` per stage. Constructor keywords were read from each
installed plugin; ``tests/providers/test_catalog.py`` builds every row against the real
plugin and finds the mapped values in its options, so a new row is tested for free.
Avatars (anam, bey, tavus, ...) and tooling (silero, turn-detector, nltk, langchain,
hamming, typesafe, minimal) are not providers and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from ..config.directory import NO_PROVIDER, Credential
from ..config.models import CommonField, LLMConfig, StageConfig
from ..errors import ConfigError
from . import hooks
from .builder import Row, Vendor, args, build
from .registry import ProviderFactory, Stage

__all__ = ["VENDORS", "iter_rows", "register_catalog"]


def key(*env: str, required: bool = True, env_only: bool = False) -> Credential:
    return Credential("api_key", env, required=required, env_only=env_only)


def url(*env: str, required: bool = False) -> Credential:
    return Credential("base_url", env, required=required)


# the common shapes, so a row says only what differs
STT_ARGS = args("model language api_key base_url")
LLM_ARGS = args("model temperature api_key base_url")
TTS_ARGS = args("model voice language api_key base_url")
TEXT_OUT = {"modalities": ["text"]}

OPENAI_CREDS = (key("OPENAI_API_KEY"), url("OPENAI_BASE_URL"))
# local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK
# refuses an empty one
COMPATIBLE_CREDS = (
    Credential("api_key", ("OPENAI_API_KEY",), required=False, default="not-needed"),
    url("OPENAI_BASE_URL", required=True),
)
AZURE_OPENAI_CREDS = (
    key("AZURE_OPENAI_API_KEY", "AZURE_API_KEY"),
    Credential("endpoint", ("AZURE_OPENAI_ENDPOINT",)),
    Credential("deployment", ("AZURE_OPENAI_DEPLOYMENT",), required=False),
)
AZURE_OPENAI_VERSIONED = (
    *AZURE_OPENAI_CREDS,
    Credential("api_version", ("OPENAI_API_VERSION",), required=False, default="2024-10-21"),
)
AZURE_ARGS = args("api_key api_version", endpoint="azure_endpoint", deployment="azure_deployment")
GOOGLE_CLOUD_CREDS = (
    Credential("credentials_file", ("GOOGLE_APPLICATION_CREDENTIALS",), required=False),
    Credential("location", ("GOOGLE_CLOUD_LOCATION",), required=False),
)
GEMINI_CREDS = (
    key("GOOGLE_API_KEY", "GEMINI_API_KEY", required=False),
    Credential("project", ("GOOGLE_CLOUD_PROJECT",), required=False),
    *GOOGLE_CLOUD_CREDS,
)
AWS_CREDS = (
    key("AWS_ACCESS_KEY_ID", required=False),
    Credential("api_secret", ("AWS_SECRET_ACCESS_KEY",), required=False),
    Credential("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), required=False),
)
AWS_KEYS = args("api_key api_secret region")


COMPATIBLE_STAGES: tuple[tuple[Stage, str, dict[CommonField, str], dict[str, Any]], ...] = (
    ("stt", "STT", STT_ARGS, {}),
    ("llm", "LLM", LLM_ARGS, {}),
    ("tts", "TTS", args("model voice api_key base_url"), {"response_format": "pcm"}),
)


def preset(name: str, constructor: str, env: str, model: str, description: str) -> Row:
    """An OpenAI-compatible host through ``openai.LLM.with_<host>``."""
    return Row(
        "llm", f"LLM.{constructor}", LLM_ARGS, name=name, kind="preset", default_model=model,
        credentials=(key(env), url(f"{env.removesuffix('_API_KEY').removesuffix('_TOKEN')}_BASE_URL")),
        description=description,
    )


VENDORS: tuple[Vendor, ...] = (
    Vendor("openai", "OpenAI", "openai", OPENAI_CREDS, (
        Row("stt", "STT", STT_ARGS, default_model="gpt-4o-mini-transcribe"),
        Row("llm", "LLM", LLM_ARGS, default_model="gpt-4.1-mini"),
        # raw PCM needs no decoding, so the first audio frame leaves sooner than with mp3
        Row("tts", "TTS", args("model voice api_key base_url"), default_model="gpt-4o-mini-tts",
            defaults={"response_format": "pcm"}),
        Row("realtime", "realtime.RealtimeModel", args("model voice api_key base_url"), name="openai-realtime",
            default_model="gpt-realtime", text_only=TEXT_OUT, description="OpenAI Realtime API"),
        # the OpenAI API at any base URL: Ollama, vLLM, llama.cpp, LM Studio, a proxy
        *(Row(stage, target, shape, name="openai-compatible", kind="preset", credentials=COMPATIBLE_CREDS,
              defaults=defaults, description="any OpenAI-compatible server (base_url)")
          for stage, target, shape, defaults in COMPATIBLE_STAGES),
        Row("llm", "LLM", LLM_ARGS, name="vllm", kind="alias", credentials=COMPATIBLE_CREDS,
            description="vLLM's OpenAI-compatible server (= openai-compatible)"),
        Row("llm", "LLM.with_ollama", args("model temperature base_url"), name="ollama", kind="preset",
            default_model="llama3.1", credentials=(url("OLLAMA_BASE_URL"),), description="Ollama"),
        preset("openrouter", "with_openrouter", "OPENROUTER_API_KEY", "auto", "OpenRouter"),
        preset("together", "with_together", "TOGETHER_API_KEY", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
               "Together AI"),
        preset("fireworks", "with_fireworks", "FIREWORKS_API_KEY",
               "accounts/fireworks/models/llama-v3p3-70b-instruct", "Fireworks AI"),
        preset("deepseek", "with_deepseek", "DEEPSEEK_API_KEY", "deepseek-chat", "DeepSeek"),
        preset("sambanova", "with_sambanova", "SAMBANOVA_API_KEY", "DeepSeek-R1-0528", "SambaNova"),
        preset("nebius", "with_nebius", "NEBIUS_API_KEY", "meta-llama/Meta-Llama-3.1-70B-Instruct", "Nebius AI"),
        preset("ovhcloud", "with_ovhcloud", "OVHCLOUD_API_KEY", "gpt-oss-120b", "OVHcloud AI Endpoints"),
        preset("cometapi", "with_cometapi", "COMETAPI_API_KEY", "gpt-5-chat-latest", "CometAPI"),
        preset("octoai", "with_octo", "OCTOAI_TOKEN", "llama-2-13b-chat", "OctoAI"),
        preset("telnyx", "with_telnyx", "TELNYX_API_KEY", "meta-llama/Meta-Llama-3.1-70B-Instruct",
               "Telnyx inference"),
        # Letta serves one agent per id: the agent id goes in llm.model
        Row("llm", "LLM.with_letta", args("api_key base_url", model="agent_id"), name="letta", kind="preset",
            credentials=(key("LETTA_API_KEY"), url("LETTA_BASE_URL")), description="Letta agent (model = agent id)"),
        Row("stt", "STT.with_ovhcloud", args("model language api_key base_url"), name="ovhcloud", kind="preset",
            credentials=(key("OVHCLOUD_API_KEY"), url("OVHCLOUD_BASE_URL")), description="OVHcloud AI Endpoints"),
    )),
    Vendor("azure", "Azure OpenAI", "openai", AZURE_OPENAI_VERSIONED, (
        Row("stt", "STT.with_azure", {**AZURE_ARGS, **args("model language")}, default_model="gpt-4o-mini-transcribe",
            hook=hooks.azure_openai_deployment),
        Row("llm", "LLM.with_azure", {**AZURE_ARGS, **args("model temperature")}, default_model="gpt-4.1-mini",
            hook=hooks.azure_openai_deployment),
        Row("tts", "TTS.with_azure", {**AZURE_ARGS, **args("model voice")}, default_model="gpt-4o-mini-tts",
            defaults={"response_format": "pcm"}, hook=hooks.azure_openai_deployment),
        # the realtime deployment is named after the model unless set; api_version is not used
        Row("realtime", "realtime.RealtimeModel.with_azure",
            args("voice api_key", endpoint="azure_endpoint", model="azure_deployment", deployment="azure_deployment"),
            name="azure-realtime", default_model="gpt-realtime", text_only=TEXT_OUT,
            credentials=AZURE_OPENAI_CREDS, description="OpenAI Realtime API on Azure OpenAI"),
        Row("llm", "LLM.with_azure", {**AZURE_ARGS, **args("model temperature")}, name="azure-openai", kind="alias",
            default_model="gpt-4.1-mini", hook=hooks.azure_openai_deployment, description="= azure"),
    )),
    Vendor("azure-speech", "Azure AI Speech", "azure", (
        key("AZURE_SPEECH_KEY"),
        Credential("region", ("AZURE_SPEECH_REGION",), required=False),
        Credential("endpoint", ("AZURE_SPEECH_ENDPOINT",), required=False),
    ), (
        Row("stt", "STT", args("language", api_key="speech_key", region="speech_region", endpoint="speech_endpoint"),
            hook=hooks.azure_speech_region),
        Row("tts", "TTS", args("voice language", api_key="speech_key", region="speech_region",
                               endpoint="speech_endpoint"), hook=hooks.azure_speech_region),
    ), extra="azure"),
    Vendor("azure-voicelive", "Azure Voice Live", "azure", (
        key("AZURE_VOICE_LIVE_API_KEY"), Credential("endpoint", ("AZURE_VOICE_LIVE_ENDPOINT",)),
    ), (
        Row("realtime", "realtime.RealtimeModel", args("model voice temperature api_key endpoint"),
            name="azure-voicelive-realtime", default_model="gpt-realtime", text_only=TEXT_OUT),
    ), extra="azure"),
    Vendor("deepgram", "Deepgram", "deepgram", (key("DEEPGRAM_API_KEY"), url("DEEPGRAM_BASE_URL")), (
        Row("stt", "STT", STT_ARGS),
        # Deepgram names its voices as models ("aura-2-andromeda-en"): a voice wins over a model
        Row("tts", "TTS", args("model api_key base_url", voice="model")),
        Row("stt", "STTv2", args("model api_key base_url"), name="deepgram-flux", kind="alias",
            description="Deepgram Flux (v2 API, model-side turn detection)"),
    )),
    Vendor("elevenlabs", "ElevenLabs", "elevenlabs",
           (key("ELEVEN_API_KEY", "ELEVENLABS_API_KEY"), url("ELEVENLABS_BASE_URL")), (
        Row("stt", "STT", args("model api_key base_url", language="language_code")),
        Row("tts", "TTS", args("model language api_key base_url", voice="voice_id")),
    )),
    Vendor("cartesia", "Cartesia", "cartesia", (key("CARTESIA_API_KEY"), url("CARTESIA_BASE_URL")), (
        Row("stt", "STT", STT_ARGS), Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("anthropic", "Anthropic", "anthropic", (key("ANTHROPIC_API_KEY"), url("ANTHROPIC_BASE_URL")), (
        Row("llm", "LLM", LLM_ARGS, default_model="claude-haiku-4-5"),
    )),
    Vendor("groq", "Groq", "groq", (key("GROQ_API_KEY"), url("GROQ_BASE_URL")), (
        Row("stt", "STT", STT_ARGS), Row("llm", "LLM", LLM_ARGS),
        Row("tts", "TTS", args("model voice api_key base_url")),
    )),
    Vendor("google", "Google Cloud / Gemini", "google", GEMINI_CREDS, (
        Row("stt", "STT", args("model project location", language="languages"), credentials=(
            *GOOGLE_CLOUD_CREDS, Credential("project", ("GOOGLE_CLOUD_PROJECT",), required=False)),
            hook=hooks.google_cloud_credentials, hook_fields=("credentials_file",)),
        Row("llm", "LLM", args("model temperature api_key project location"), default_model="gemini-2.5-flash",
            hook=hooks.google_genai_auth, hook_fields=("credentials_file",)),
        Row("tts", "TTS", args("language location", voice="voice_name", model="model_name"),
            credentials=GOOGLE_CLOUD_CREDS, hook=hooks.google_cloud_credentials, hook_fields=("credentials_file",)),
        Row("realtime", "realtime.RealtimeModel", args("model voice language temperature api_key project location"),
            name="google-realtime", text_only={"modalities": ["TEXT"]}, hook=hooks.google_genai_auth,
            hook_fields=("credentials_file",), description="Gemini Live API"),
        Row("llm", "LLM", args("model temperature api_key project location"), name="gemini", kind="alias",
            default_model="gemini-2.5-flash", hook=hooks.google_genai_auth, hook_fields=("credentials_file",),
            description="= google"),
    )),
    Vendor("aws", "Amazon Web Services", "aws", AWS_CREDS, (
        # Transcribe's SDK (aws-sdk-transcribe-streaming) is published for Python >= 3.12 only
        Row("stt", "STT", args("language region"), hook=hooks.aws_transcribe_credentials,
            hook_fields=("api_key", "api_secret"), python=">=3.12", description="Amazon Transcribe"),
        Row("llm", "LLM", {**AWS_KEYS, **args("model temperature")}, hook=hooks.aws_credentials,
            description="Amazon Bedrock"),
        Row("tts", "TTS", {**AWS_KEYS, **args("voice language")}, hook=hooks.aws_credentials,
            description="Amazon Polly"),
        # Nova Sonic uses the AWS credential chain; its SDK needs Python >= 3.12
        Row("realtime", "realtime.RealtimeModel", args("model voice temperature region"), name="aws-realtime",
            credentials=(Credential("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), required=False),),
            python=">=3.12", description="Amazon Nova Sonic"),
    )),
    Vendor("assemblyai", "AssemblyAI", "assemblyai", (key("ASSEMBLYAI_API_KEY"), url("ASSEMBLYAI_BASE_URL")), (
        Row("stt", "STT", args("model api_key base_url", language="language_codes"),
            hook=hooks.languages_as_list("language_codes")),
        Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("asyncai", "Async", "asyncai", (key("ASYNCAI_API_KEY"), url("ASYNCAI_BASE_URL")), (
        Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("baseten", "Baseten", "baseten", (key("BASETEN_API_KEY"), url("BASETEN_MODEL_ENDPOINT")), (
        Row("stt", "STT", args("model language api_key", base_url="model_endpoint")),
        Row("llm", "LLM", LLM_ARGS, credentials=(key("BASETEN_API_KEY"), url("BASETEN_BASE_URL"))),
        Row("tts", "TTS", args("model voice language api_key", base_url="model_endpoint")),
    )),
    Vendor("bland", "Bland", "bland", (key("BLAND_API_KEY"), url("BLAND_BASE_URL")), (
        Row("tts", "TTS", args("api_key base_url", voice="voice_id")),
    )),
    Vendor("cambai", "CAMB.AI", "cambai", (key("CAMB_API_KEY"), url("CAMB_BASE_URL")), (
        Row("tts", "TTS", args("model language api_key base_url", voice="voice_id")),
    )),
    Vendor("cerebras", "Cerebras", "cerebras", (key("CEREBRAS_API_KEY"), url("CEREBRAS_BASE_URL")), (
        Row("llm", "LLM", LLM_ARGS),
    )),
    Vendor("clova", "NAVER CLOVA", "clova",
           (key("CLOVA_STT_SECRET_KEY"), url("CLOVA_STT_INVOKE_URL", required=True)), (
        Row("stt", "STT", args("language", api_key="secret", base_url="invoke_url")),
    )),
    Vendor("fal", "fal", "fal", (key("FAL_KEY"),), (
        Row("stt", "WizperSTT", args("language api_key"), description="Wizper (Whisper) on fal"),
    )),
    Vendor("fireworksai", "Fireworks AI", "fireworksai", (key("FIREWORKS_API_KEY"), url("FIREWORKS_STT_BASE_URL")), (
        Row("stt", "STT", STT_ARGS),
    )),
    Vendor("fishaudio", "Fish Audio", "fishaudio", (key("FISH_API_KEY"), url("FISH_BASE_URL")), (
        Row("tts", "TTS", args("model api_key base_url", voice="voice_id")),
    )),
    Vendor("gladia", "Gladia", "gladia", (key("GLADIA_API_KEY"), url("GLADIA_BASE_URL")), (
        Row("stt", "STT", args("model api_key base_url", language="languages"),
            hook=hooks.languages_as_list("languages")),
    )),
    Vendor("gnani", "Gnani", "gnani", (key("GNANI_API_KEY"), url("GNANI_BASE_URL")), (
        Row("stt", "STT", args("language api_key base_url")), Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("gradium", "Gradium", "gradium", (key("GRADIUM_API_KEY"), url("GRADIUM_MODEL_ENDPOINT")), (
        Row("stt", "STT", args("language api_key", model="model_name", base_url="model_endpoint")),
        Row("tts", "TTS", args("voice api_key", model="model_name", base_url="model_endpoint")),
    )),
    Vendor("hume", "Hume AI", "hume", (key("HUME_API_KEY"), url("HUME_BASE_URL")), (
        Row("tts", "TTS", args("voice api_key base_url", model="model_version"), hook=hooks.hume_voice),
    )),
    Vendor("inworld", "Inworld", "inworld", (key("INWORLD_API_KEY"), url("INWORLD_BASE_URL")), (
        Row("stt", "STT", STT_ARGS), Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("lmnt", "LMNT", "lmnt", (key("LMNT_API_KEY"),), (
        Row("tts", "TTS", args("model voice language api_key")),
    )),
    Vendor("meta", "Meta", "meta", (key("META_API_KEY"), url("META_STT_URL")), (
        Row("stt", "STT", args("model api_key", base_url="url"), description="Muse Voice Transcribe"),
    )),
    Vendor("microsoft-ai", "Microsoft AI (Foundry)", "microsoft_ai", (), (
        Row("stt", "STT", args("model language api_key", base_url="url"), defaults={"vad": None},
            credentials=(key("MICROSOFT_AI_STT_API_KEY"), url("MICROSOFT_AI_STT_URL", required=True))),
        Row("tts", "TTS", args("model voice language region api_key", base_url="url"), defaults={"sample_rate": 24000},
            credentials=(key("MICROSOFT_AI_TTS_API_KEY"), url("MICROSOFT_AI_TTS_URL"),
                         Credential("region", ("MICROSOFT_AI_TTS_REGION",), required=False))),
    )),
    Vendor("minimax", "MiniMax", "minimax", (key("MINIMAX_API_KEY"), url("MINIMAX_BASE_URL")), (
        Row("tts", "TTS", args("model voice api_key base_url")),
    ), package="livekit-plugins-minimax-ai"),
    Vendor("mistralai", "Mistral AI", "mistralai", (key("MISTRAL_API_KEY"),), (
        Row("stt", "STT", args("model language api_key")),
        Row("llm", "LLM", args("model temperature api_key"), default_model="mistral-small-latest"),
        Row("tts", "TTS", args("model voice api_key")),
    )),
    Vendor("murf", "Murf", "murf", (key("MURF_API_KEY"), url("MURF_BASE_URL")), (
        Row("tts", "TTS", args("model voice api_key base_url", language="locale")),
    )),
    Vendor("nabrah", "Nabrah", "nabrah", (key("NABRAH_API_KEY"), url("NABRAH_BASE_URL")), (
        Row("stt", "STT", args("language api_key base_url", model="recognition_model")),
    )),
    Vendor("neuphonic", "Neuphonic", "neuphonic", (key("NEUPHONIC_API_KEY"), url("NEUPHONIC_BASE_URL")), (
        Row("tts", "TTS", args("api_key base_url", voice="voice_id", language="lang_code")),
    )),
    Vendor("nvidia", "NVIDIA", "nvidia", (key("NVIDIA_API_KEY"), url("NVIDIA_RIVA_SERVER")), (
        Row("stt", "STT", args("model api_key", language="language_code", base_url="server")),
        Row("tts", "TTS", args("voice api_key", language="language_code", base_url="server")),
        Row("realtime", "realtime.RealtimeModel", args("voice base_url"), name="nvidia-realtime",
            credentials=(url("PERSONAPLEX_URL", required=True),), description="PersonaPlex (self-hosted)"),
    )),
    Vendor("palabra", "Palabra", "palabra", (key("PALABRA_API_KEY"),), (
        Row("stt", "STT", args("language api_key")),
        Row("tts", "TTS", args("model language api_key", voice="voice_id")),
    )),
    Vendor("perplexity", "Perplexity", "perplexity", (key("PERPLEXITY_API_KEY"), url("PERPLEXITY_BASE_URL")), (
        Row("llm", "LLM", LLM_ARGS),
    )),
    Vendor("phonic", "Phonic", "phonic", (key("PHONIC_API_KEY"),), (
        Row("realtime", "realtime.RealtimeModel", args("voice api_key", model="phonic_model",
                                                       language="default_language"), name="phonic-realtime"),
    )),
    Vendor("resemble", "Resemble AI", "resemble", (key("RESEMBLE_API_KEY"),), (
        Row("tts", "TTS", args("model api_key", voice="voice_uuid")),
    )),
    Vendor("respeecher", "Respeecher", "respeecher", (key("RESPEECHER_API_KEY"), url("RESPEECHER_BASE_URL")), (
        Row("tts", "TTS", args("model api_key base_url", voice="voice_id")),
    )),
    Vendor("rime", "Rime", "rime", (key("RIME_API_KEY"), url("RIME_BASE_URL")), (
        Row("tts", "TTS", args("model api_key base_url", voice="speaker", language="lang"), default_model="arcana"),
    )),
    # the RTZR SDK reads its client id and secret from the environment only
    Vendor("rtzr", "RTZR (Return Zero)", "rtzr", (
        key("RTZR_CLIENT_ID", env_only=True),
        Credential("api_secret", ("RTZR_CLIENT_SECRET",), env_only=True),
    ), (
        Row("stt", "STT", args("model language")),
    )),
    Vendor("sarvam", "Sarvam AI", "sarvam", (key("SARVAM_API_KEY"), url("SARVAM_BASE_URL")), (
        Row("stt", "STT", STT_ARGS), Row("llm", "LLM", LLM_ARGS),
        Row("tts", "TTS", args("model api_key base_url", voice="speaker", language="target_language_code")),
    )),
    Vendor("simplismart", "Simplismart", "simplismart", (key("SIMPLISMART_API_KEY"), url("SIMPLISMART_BASE_URL")), (
        Row("stt", "STT", STT_ARGS), Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("slng", "SLNG", "slng", (key("SLNG_API_KEY"),), (
        Row("stt", "STT", args("model language api_key")),
        Row("tts", "TTS", args("model voice language api_key"), description="tts.voice is required"),
    )),
    Vendor("smallestai", "Smallest AI", "smallestai", (key("SMALLEST_API_KEY"), url("SMALLEST_BASE_URL")), (
        Row("stt", "STT", STT_ARGS),
        Row("tts", "TTS", args("model language api_key base_url", voice="voice_id")),
    )),
    Vendor("soniox", "Soniox", "soniox", (key("SONIOX_API_KEY"), url("SONIOX_BASE_URL")), (
        Row("stt", "STT", STT_ARGS, hook=hooks.soniox_options),
        Row("tts", "TTS", args("model voice language api_key", base_url="websocket_url")),
    )),
    Vendor("speechify", "Speechify", "speechify", (key("SPEECHIFY_API_KEY"), url("SPEECHIFY_BASE_URL")), (
        Row("tts", "TTS", args("model language api_key base_url", voice="voice_id")),
    )),
    Vendor("speechmatics", "Speechmatics", "speechmatics",
           (key("SPEECHMATICS_API_KEY"), url("SPEECHMATICS_BASE_URL")), (
        Row("stt", "STT", STT_ARGS), Row("tts", "TTS", args("voice api_key base_url")),
    )),
    # the Spitch SDK reads SPITCH_API_KEY from the environment only
    Vendor("spitch", "Spitch", "spitch", (key("SPITCH_API_KEY", env_only=True),), (
        Row("stt", "STT", args("language")), Row("tts", "TTS", args("voice language")),
    )),
    Vendor("telnyx", "Telnyx", "telnyx", (key("TELNYX_API_KEY"), url("TELNYX_BASE_URL")), (
        Row("stt", "STT", args("language api_key base_url")), Row("tts", "TTS", args("voice api_key base_url")),
    )),
    Vendor("thunderphone", "ThunderPhone", "thunderphone",
           (key("THUNDERPHONE_API_KEY"), url("THUNDERPHONE_BASE_URL")), (
        Row("realtime", "realtime.RealtimeModel", args("model voice language api_key base_url"),
            name="thunderphone-realtime"),
    )),
    Vendor("ultravox", "Ultravox", "ultravox", (key("ULTRAVOX_API_KEY"), url("ULTRAVOX_BASE_URL")), (
        Row("realtime", "realtime.RealtimeModel", args("model voice temperature api_key base_url",
                                                       language="language_hint"),
            name="ultravox-realtime", text_only={"output_medium": "text"}),
    )),
    Vendor("upliftai", "Uplift AI", "upliftai", (key("UPLIFTAI_API_KEY"), url("UPLIFTAI_BASE_URL")), (
        Row("tts", "TTS", args("api_key base_url", voice="voice_id")),
    )),
    Vendor("vakyam", "Vakyam", "vakyam", (key("VAKYAM_API_KEY"), url("VAKYAM_BASE_URL")), (
        Row("tts", "TTS", TTS_ARGS),
    )),
    Vendor("xai", "xAI", "xai", (key("XAI_API_KEY"), url("XAI_BASE_URL")), (
        Row("stt", "STT", args("language api_key"), credentials=(key("XAI_API_KEY"),)),
        Row("llm", "responses.LLM", LLM_ARGS, description="Grok (Responses API)"),
        Row("tts", "TTS", args("voice language api_key"), credentials=(key("XAI_API_KEY"),)),
        Row("realtime", "realtime.RealtimeModel", args("model voice api_key base_url"), name="xai-realtime",
            description="Grok Voice Agent API"),
    )),
)


def iter_rows() -> Iterator[tuple[Vendor, Row]]:
    for vendor in VENDORS:
        for row in vendor.rows:
            yield vendor, row


def _build_stage(vendor: Vendor, row: Row, cfg: StageConfig) -> Any:
    return build(vendor, row, cfg)


def _build_realtime(vendor: Vendor, row: Row, cfg: LLMConfig, *, text_only: bool = False) -> Any:
    if text_only and row.text_only is None:
        raise ConfigError(
            f"tts.provider: {vendor.provider_name(row)!r} speaks with its own voice and cannot hand its answer "
            "to a separate TTS; set tts.provider: none (or pick a realtime model that can answer in text)"
        )
    return build(vendor, row, cfg, **(dict(row.text_only or {}) if text_only else {}))


def _nothing(cfg: StageConfig) -> None:
    # the session builder never calls this: "none" is handled before construction
    raise ConfigError(f"{cfg.provider}: nothing to build")


def register_catalog(factory: type[ProviderFactory]) -> None:
    """Register every catalog row, and provider ``none`` for STT and TTS."""
    for vendor, row in iter_rows():
        fn = partial(_build_realtime if row.stage == "realtime" else _build_stage, vendor, row)
        factory.register(
            row.stage,
            vendor.provider_name(row),
            fn,
            extra=vendor.extra_name,
            module=vendor.module,
            credentials=vendor.row_credentials(row),
            description=row.description or vendor.title,
            kind=row.kind,
            vendor=vendor.name,
            python=row.python,
        )
    for stage in ("stt", "tts"):
        factory.register(
            stage, NO_PROVIDER, _nothing, kind="registered",
            description="no separate model: the realtime llm hears (stt) or speaks (tts) itself",
        )
