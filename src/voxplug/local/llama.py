"""Local LLM: any GGUF through llama-cpp-python, on the CPU.

The prompt is rendered with the GGUF's own chat template (``tokenizer.chat_template``) and
jinja2, because ``create_chat_completion(tools=...)`` returned no structured tool calls with
the packaged Qwen2.5 model. By default (``prompt: voice``) it is a voice prompt written for a
small model with only the tools the turn needs (``prompting``), and a turn that offers tools is
constrained by a GBNF grammar to a valid call of one of them (``grammar``); with ``prompt:
template`` the template's own tool section lists every tool. Tool calls are parsed leniently
from the generated text (``toolcalls``). Plain replies are streamed a clause at a time through a
guard that strips markup and stops a reply that talks about functions or says the user's words
back, which is then asked again without tools (``replies``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError, llm
from livekit.agents.llm import ChatContext, Tool, ToolChoice
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from ..config.models import LLMConfig
from ..errors import ConfigError
from ._common import cached_model, default_threads, ensure_installed, options_from, require
from .grammar import arguments_grammar, turn_grammar
from .prompting import NUMBER_LANGUAGES, relevant_tools, tool_name, voice_messages
from .replies import ECHO_FALLBACK, FALLBACK_REPLY, NUDGE, REFUSAL_OPENINGS, SpeechGuard, spelled_out
from .toolcalls import ParsedOutput, ToolCallSplitter, parse_tool_calls
from .weights import QWEN_GGUF, SplitWeights, assemble, locate

if TYPE_CHECKING:
    from jinja2 import Template
    from llama_cpp import Llama

__all__ = [
    "LlamaOptions",
    "LoadedLlama",
    "LocalLlamaLLM",
    "LocalLlamaStream",
    "Prepared",
    "answered_calls",
    "build_prompt",
    "create_llm",
    "load_llama",
    "prompt_tokens",
    "render_prompt",
    "resolve_model",
    "to_template_messages",
]

logger = logging.getLogger(__name__)

PACKAGED_LABEL = QWEN_GGUF.name
_END = object()

# ChatML with Qwen2.5's tool section: the fallback for a GGUF that carries no template
FALLBACK_TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}\
{% else %}You are a helpful assistant.{% endif %}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'system' and loop.first %}
{%- elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant
{{ message.content }}
{%- for call in message.tool_calls %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

# end-of-turn markers of common template families, used as stop strings when present
_TURN_ENDS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


ToolHistory = Literal["note", "template"]
PromptStyle = Literal["voice", "template"]
ToolFilter = Literal["relevant", "all"]


@dataclass(frozen=True)
class LlamaOptions:
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = the cores, at most 4
    n_batch: int = 256
    # voice replies are a sentence or two; a runaway generation costs seconds of CPU
    max_tokens: int = 200
    # greedy: small models wander when sampled, and tool calls need to be exact
    temperature: float = 0.0
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    seed: int | None = None
    tool_history: ToolHistory = "note"  # see to_template_messages
    # "voice": rules and examples for a small model, tools described before the user's message;
    # "template": the agent's instructions and every tool through the chat template's own section
    prompt: PromptStyle = "voice"
    # "relevant": offer a turn only the tools its words call for (prompting.relevant_tools)
    tool_filter: ToolFilter = "relevant"
    # constrain the output of a turn that offers tools to a valid call of one of them (or one
    # line of plain speech, without require_call)
    grammar: bool = True
    # with the grammar, a turn whose words call for a tool (tool_filter: relevant) must call one:
    # the packaged 0.5B model, left to choose, answered "What time is it?" itself (a made-up
    # time) nearly always (benchmarks/q1_reply_quality.py)
    require_call: bool = True
    # strip markup; ask again without tools when a reply talks about functions
    reply_filter: bool = True
    # said at once on a turn the grammar makes call a tool, while the call is written and run: the
    # answer comes only after a second generation (P3's slowest turns); "" says nothing
    call_filler: str = "One moment."
    # the language whose spelled-out numbers the voice prompt shows the model as digits
    # (prompting.digits_for_number_words); "" leaves the user's words as they are
    spoken_numbers: str = "en"
    # a request to spell a word gets its letters as the reply's opening (replies.spelled_out)
    spell_words: bool = True

    def __post_init__(self) -> None:
        if self.tool_history not in ("note", "template"):
            raise ValueError("tool_history must be 'note' or 'template'")
        if self.prompt not in ("voice", "template"):
            raise ValueError("prompt must be 'voice' or 'template'")
        if self.tool_filter not in ("relevant", "all"):
            raise ValueError("tool_filter must be 'relevant' or 'all'")
        if self.n_ctx < 256:
            raise ValueError("n_ctx must be at least 256")
        if not 1 <= self.max_tokens < self.n_ctx:
            raise ValueError("max_tokens must be between 1 and n_ctx - 1")
        if self.spoken_numbers and self.spoken_numbers not in NUMBER_LANGUAGES:
            raise ValueError(f"spoken_numbers must be '' or one of {', '.join(sorted(NUMBER_LANGUAGES))}")
        if self.n_threads < 0 or self.n_batch < 1:
            raise ValueError("n_threads must be 0 (auto) or more, n_batch at least 1")


@dataclass(frozen=True)
class ResolvedModel:
    label: str
    path: Path
    weights: SplitWeights | None = None  # packaged in parts: joined into ``path`` at load


def resolve_model(model: str | None) -> ResolvedModel:
    """``None`` = the packaged Qwen2.5-Coder-0.5B-Instruct Q4_K_M, else a path to a .gguf."""
    if not model:
        return ResolvedModel(PACKAGED_LABEL, locate(QWEN_GGUF), QWEN_GGUF)
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        raise ConfigError(f"llm.model: {model!r} is not a .gguf file (leave it unset for the packaged model)")
    return ResolvedModel(path.stem.lower(), path.resolve())


@dataclass
class LoadedLlama:
    """A loaded model with what every request needs; shared by all sessions in the process."""

    llama: Llama
    template: Template
    template_has_tools: bool
    bos_token: str
    eos_token: str
    stop: list[str]
    n_ctx: int
    # a llama.cpp context is not thread-safe: one generation at a time per loaded model
    lock: threading.Lock


def _tojson(value: Any, indent: int | None = None, separators: Any = None, sort_keys: bool = False,
            ensure_ascii: bool = False) -> str:
    # HF's tojson: plain json.dumps (jinja2's own escapes <, >, & for HTML)
    return json.dumps(
        value, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii
    )


def _raise(message: str) -> None:
    raise ValueError(message)


def compile_template(source: str) -> Template:
    # jinja2 comes with the local-llm extra: imported only when a GGUF's template is compiled
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # the template comes from a model file: render it sandboxed, like transformers does
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    try:
        return llama._model.token_get_text(token)
    except Exception:  # older bindings: fall back to detokenizing the special token
        return llama.detokenize([token], special=True).decode("utf-8", "ignore")


def load_llama(resolved: ResolvedModel, opts: LlamaOptions) -> LoadedLlama:
    """Load (once per process) the GGUF and compile its chat template."""
    # The cores, up to 4: for one conversation, token generation is the longest serial step
    # of a turn and the other stages rarely run at the same moment (P3: first token 164 ms
    # with 2 threads vs 282 ms with 1 on 2 idle cores). llama.cpp's threads spin at barriers,
    # so under competition (several sessions per process, other work) they stall: measured on
    # 2 busy cores, 1 thread gave 13-30 tokens/s and 2 threads 3-8. Set n_threads there.
    threads = opts.n_threads or default_threads()
    key = ("llama", str(resolved.path), opts.n_ctx, threads, opts.n_batch)
    if resolved.weights is not None:  # joined once; later a size and stamp check
        assemble(resolved.weights)

    def load() -> LoadedLlama:
        llama_cpp = require("llama_cpp", package="llama-cpp-python", extra="local-llm")
        model = llama_cpp.Llama(
            str(resolved.path), n_ctx=opts.n_ctx, n_threads=threads, n_threads_batch=threads,
            n_batch=opts.n_batch, verbose=False,
        )
        # free it while the interpreter is intact: llama-cpp-python's __del__ at shutdown
        # finds its ctypes bindings already torn down and prints a traceback
        atexit.register(model.close)
        source = model.metadata.get("tokenizer.chat_template")
        if not source:
            logger.warning("%s has no chat template; using ChatML", resolved.path.name)
            source = FALLBACK_TEMPLATE
        eos = _token_text(model, model.token_eos())
        stop = sorted({t for t in (eos, *_TURN_ENDS) if t and t in source})
        return LoadedLlama(
            llama=model,
            template=compile_template(source),
            template_has_tools="tools" in source,
            bos_token=_token_text(model, model.token_bos()),
            eos_token=eos,
            stop=stop,
            n_ctx=opts.n_ctx,
            lock=threading.Lock(),
        )

    return cached_model(key, resolved.label, resolved.path, load)


# -- prompt -----------------------------------------------------------------------------------
def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text, a voice model gets no images
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)



TOOL_NOTE_END = "Now answer the user's question in one short spoken sentence using this result."
# the voice prompt's note names no tool: a small model repeats what it reads ("The current_time
# tool returned ...", which is tool-speak); and it has the model tell the result rather than
# answer the question. When Whisper garbled the question ("What? Time in it right now."), the
# note "Answer the user's last question from this in one short spoken sentence." told the time in
# 0 of 12 answers ("I'm sorry, but I can't assist with that.", "You can book a flight to Rome.");
# this one, with the time first in the result (core.tools.spoken_time), in 12 of 12, and in 12 of
# 12 for the question heard right, as the old note did
VOICE_NOTE_END = "Tell the user this in one short spoken sentence."


def _tool_note(calls: dict[str, dict[str, Any]], outputs: list[dict[str, Any]], *, voice: bool) -> dict[str, Any]:
    lines = []
    for out in outputs:
        call = calls.get(str(out.get("tool_call_id")), {})
        result = _text(out.get("content"))
        lines.append(f"Looked up: {result}" if voice else f"The {call.get('name') or 'tool'} tool returned: {result}")
    return {"role": "system", "content": "\n".join([*lines, VOICE_NOTE_END if voice else TOOL_NOTE_END])}


def to_template_messages(
    chat_ctx: ChatContext, *, tool_history: ToolHistory = "note", voice: bool = False, filler: str = "",
) -> list[dict[str, Any]]:
    """ChatContext → the message dicts HF chat templates expect.

    ``tool_history="template"`` renders past tool calls and results the template's own way.
    With Qwen2.5-0.5B that makes the model repeat the call it just made instead of answering,
    so the default ``"note"`` hands each batch of results to the model as a short system note
    after the user's turn ("The current_time tool returned: ..."; with ``voice`` "Looked up:
    ..."), which it answers from. ``filler`` (``LlamaOptions.call_filler``), said with a call, is
    left out of the note's history: after "One moment." the 0.5B model answered with one of the
    voice prompt's examples instead of the result.
    """
    raw, _ = chat_ctx.to_provider_format("openai")
    messages: list[dict[str, Any]] = []
    pending_calls: dict[str, dict[str, Any]] = {}
    pending_outputs: list[dict[str, Any]] = []

    def flush_note() -> None:
        if pending_outputs:
            messages.append(_tool_note(pending_calls, pending_outputs, voice=voice))
            pending_outputs.clear()

    for msg in raw:
        role = "system" if msg.get("role") == "developer" else str(msg.get("role"))
        if filler and role == "assistant" and _text(msg.get("content")).strip() == filler.strip():
            if not msg.get("tool_calls"):
                continue
            msg = {**msg, "content": ""}
        if tool_history == "note":
            if role == "tool":
                pending_outputs.append(msg)
                continue
            flush_note()
            if msg.get("tool_calls"):
                for call in msg["tool_calls"]:
                    fn = call.get("function", {})
                    pending_calls[str(call.get("id"))] = {"name": fn.get("name"), "arguments": fn.get("arguments")}
                if _text(msg.get("content")).strip():  # "Let me check." said with the call
                    messages.append({"role": "assistant", "content": _text(msg.get("content"))})
                continue
        out: dict[str, Any] = {"role": role, "content": _text(msg.get("content"))}
        if msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                fn = call.get("function", {})
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {}
                # templates tojson the arguments: a dict, or they would be encoded twice
                calls.append({"id": call.get("id"), "type": "function",
                              "function": {"name": fn.get("name"), "arguments": args}})
            out["tool_calls"] = calls
        if role == "tool":
            out["tool_call_id"] = msg.get("tool_call_id")
        # templates give only messages[0] the system slot: merge leading system messages
        if role == "system" and messages and all(m["role"] == "system" for m in messages):
            messages[0]["content"] = f"{messages[0]['content']}\n\n{out['content']}".strip()
            continue
        messages.append(out)
    flush_note()
    return messages


def _tool_prompt(tools: list[dict[str, Any]]) -> str:
    # for templates without a tools section: describe them in Qwen's (widely trained) format
    lines = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    return (
        "You may call functions. Signatures:\n<tools>\n" + lines + "\n</tools>\n"
        'To call one, reply only with <tool_call>{"name": <function-name>, "arguments": '
        "<args-json-object>}</tool_call>"
    )


def render_prompt(loaded: LoadedLlama, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    if tools and not loaded.template_has_tools:
        messages = [dict(m) for m in messages]
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] += "\n\n" + _tool_prompt(tools)
        else:
            messages.insert(0, {"role": "system", "content": _tool_prompt(tools)})
    try:
        return loaded.template.render(
            messages=messages,
            tools=tools or None,
            add_generation_prompt=True,
            bos_token=loaded.bos_token,
            eos_token=loaded.eos_token,
        )
    except Exception as exc:  # a model file's template: jinja errors or its own raise_exception
        raise APIError(
            f"the model's chat template failed: {exc} (a template that rejects system messages "
            "mid-conversation needs llm.options.tool_history: template)",
            retryable=False,
        ) from exc


def prompt_tokens(
    loaded: LoadedLlama, messages: list[dict[str, Any]], tools: list[dict[str, Any]], max_tokens: int,
    *, keep: int | None = None,
) -> list[int]:
    """The rendered, tokenized prompt, oldest turns dropped until the reply fits in n_ctx.

    The first ``keep`` messages are never dropped (default: the system message, if any).
    """
    messages = list(messages)
    budget = loaded.n_ctx - max_tokens
    while True:
        prompt = render_prompt(loaded, messages, tools)
        add_bos = not (loaded.bos_token and prompt.startswith(loaded.bos_token))
        tokens: list[int] = loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        if len(tokens) <= budget:
            return tokens
        # a long session outgrew the context: forget the oldest turn (the system prompt stays)
        first = keep if keep is not None else (1 if messages and messages[0]["role"] == "system" else 0)
        if len(messages) - first <= 1:
            raise APIError(
                f"prompt of {len(tokens)} tokens does not fit n_ctx={loaded.n_ctx} with "
                f"max_tokens={max_tokens}: raise llm.options.n_ctx",
                retryable=False,
            )
        del messages[first]
        while len(messages) - first > 1 and messages[first]["role"] != "user":
            del messages[first]  # a turn starts with the user, never with a tool output


def _tool_schemas(tools: list[Tool], tool_choice: NotGivenOr[ToolChoice]) -> list[dict[str, Any]]:
    if not tools or (is_given(tool_choice) and tool_choice == "none"):
        return []
    schemas = llm.ToolContext(tools).parse_function_tools("openai", strict=False)
    if is_given(tool_choice) and isinstance(tool_choice, dict):  # a named tool: offer only it
        wanted = tool_choice.get("function", {}).get("name")
        schemas = [s for s in schemas if s.get("function", {}).get("name") == wanted] or schemas
    return schemas


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _canonical(arguments: str | dict[str, Any] | None) -> str:
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else (arguments or {})
    except ValueError:
        return str(arguments)
    return json.dumps(value, sort_keys=True)


def answered_calls(chat_ctx: ChatContext) -> set[tuple[str, str]]:
    """Calls already made (and answered) since the user's last message."""
    answered: set[tuple[str, str]] = set()
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            break
        if item.type == "function_call":
            answered.add((item.name, _canonical(item.arguments)))
    return answered


def _last_user_text(chat_ctx: ChatContext) -> str:
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            return item.text_content or ""
    return ""


@dataclass
class Prepared:
    """One generation's input: the prompt, the offered tools and the grammar (if any)."""

    tokens: list[int]
    schemas: dict[str, dict[str, Any]]  # tool name → JSON schema of its parameters
    grammar: str | None = None
    # a forced call: the start of it is in the prompt, the model writes only the arguments
    prefix: str = ""
    suffix: str = ""
    # spoken before the generation: the turn is certain to call a tool (LlamaOptions.call_filler)
    filler: str = ""


def build_prompt(
    loaded: LoadedLlama, opts: LlamaOptions, chat_ctx: ChatContext, tools: list[Tool],
    tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN, *, with_tools: bool = True, nudge: bool = False,
    opening: str = "", said: str = "",
) -> Prepared:
    """Render and tokenize the prompt for ``chat_ctx`` under ``opts`` (blocking: tokenizes).
    The reply's first words, given to the model for it to go on from: ``said``, already spoken,
    then ``opening``, spoken with the reply."""
    voice = opts.prompt == "voice"
    answered = answered_calls(chat_ctx)
    request = _last_user_text(chat_ctx)
    schemas = _tool_schemas(tools, tool_choice) if with_tools else []
    if voice and answered:
        schemas = []  # answer from the result: a small model offered the tool again calls it again
    if schemas and opts.tool_filter == "relevant":
        schemas = relevant_tools(schemas, request)
    require = opts.require_call and opts.tool_filter == "relevant"
    # one tool, which the turn must call: the call's start goes into the prompt (evaluated in
    # one batch) and the grammar lets the model write only the arguments, told only what they
    # mean. Measured on two cores (a prompt token ~11 ms, a generated one ~36 ms, about twice
    # that under a grammar): the call format's instructions cost ~40 prompt tokens (85 vs 46
    # for current_time) and the forced '{"name": "current_time", "arguments": ' about a dozen
    # generated ones ("What time is it?" to the call: 3.4 s, now 1.6 s). Without the tool's
    # line at all the model made up a time zone (America/New_York) instead of the default
    forced = voice and opts.grammar and require and len(schemas) == 1 and not nudge
    # the grammar will make this turn call a tool (forced or not): say the filler meanwhile
    filler = opts.call_filler if opts.grammar and require and schemas else ""
    messages = to_template_messages(chat_ctx, tool_history=opts.tool_history, voice=voice, filler=opts.call_filler)
    keep: int | None = None
    template_tools = schemas
    if voice:
        messages, keep = voice_messages(messages, schemas, forced=forced, numbers=opts.spoken_numbers)
        template_tools = []
    if nudge:
        messages.append({"role": "system", "content": NUDGE})
    tokens = prompt_tokens(loaded, messages, template_tools, opts.max_tokens, keep=keep)
    by_name = {s["function"]["name"]: s["function"].get("parameters") or {} for s in schemas if "function" in s}
    if forced:
        prefix = json.dumps({"name": tool_name(schemas[0]), "arguments": None})[: -len("null}")]
        tokens = tokens + loaded.llama.tokenize(prefix.encode("utf-8"), add_bos=False, special=True)
        return Prepared(tokens, by_name, arguments_grammar(schemas[0]), prefix=prefix, suffix="}", filler=filler)
    # only a turn that offers tools is constrained: llama.cpp checks the grammar against every
    # one of the 151k tokens of the vocabulary at each step, which doubled the time a spoken
    # reply took (P3: "What is the capital of France?" 966 ms with the speech grammar, 574 ms
    # without); the reply guard cleans plain speech instead
    grammar = turn_grammar(schemas, require_call=require) if opts.grammar and schemas else None
    if not (said or opening or schemas or answered) and opts.spell_words:
        opening = spelled_out(request)
    if said or opening:
        start = f"{said} {opening}".strip()
        tokens = tokens + loaded.llama.tokenize(start.encode("utf-8"), add_bos=False, special=False)
    return Prepared(tokens, by_name, grammar, prefix=opening, filler=filler)


# -- the provider -----------------------------------------------------------------------------
class LocalLlamaLLM(llm.LLM[Any]):
    """A GGUF model on the local CPU through llama.cpp; loaded once per process."""

    def __init__(self, *, model: str | None = None, options: LlamaOptions | None = None) -> None:
        super().__init__()
        ensure_installed("llama_cpp", package="llama-cpp-python", extra="local-llm")
        ensure_installed("jinja2", package="jinja2", extra="local-llm")
        self._opts = options or LlamaOptions()
        if self._opts.spoken_numbers:
            ensure_installed("text_to_num", package="text2num", extra="local-llm")
        self._resolved = resolve_model(model)
        self._loaded: LoadedLlama | None = None

    @property
    def model(self) -> str:
        return self._resolved.label

    @property
    def provider(self) -> str:
        return "local"

    @property
    def options(self) -> LlamaOptions:
        return self._opts

    def load(self) -> LoadedLlama:
        """Load the weights now (blocking); called by prewarm, else by the first request."""
        if self._loaded is None:
            self._loaded = load_llama(self._resolved, self._opts)
        return self._loaded

    def warm_prompt(self, instructions: str, tools: list[Tool]) -> int:
        """Evaluate the fixed start of every prompt now (blocking): the system prompt (with the
        voice prompt's examples, or the template's tool schemas), so the first turn of every
        session that shares it reuses the KV cache instead of paying a few hundred prompt tokens
        (seconds on a busy CPU). Returns the number of tokens cached."""
        loaded = self.load()
        ctx = ChatContext()
        ctx.add_message(role="system", content=instructions)
        ctx.add_message(role="user", content="")
        # later prompts share these tokens up to the user's words: llama.cpp reuses the longest
        # common prefix of its KV cache, whatever the template
        tokens = build_prompt(loaded, self._opts, ctx, tools).tokens
        with loaded.lock:
            loaded.llama.create_completion(tokens, max_tokens=1, temperature=0.0)
        return len(tokens)

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> LocalLlamaStream:
        return LocalLlamaStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options, tool_choice=tool_choice,
        )


# why a generation is asked again (logged), by the reply guard's reason
_RETRIED = {
    "tool-speak": "talked about functions",
    "echo": "said the user's words back",
    "action": "claimed to do something no tool did",
    "live": "answered a question about live information without a tool",
}


@dataclass
class _Generation:
    completion_tokens: int = 0
    streamed_text: str = ""
    parsed: ParsedOutput | None = None  # the buffered part, when the reply looked like a call
    flagged: str = ""  # why the guard stopped it: a key of _RETRIED


def _clean_arguments(arguments: str, schema: dict[str, Any] | None) -> str:
    """Drop keys the tool does not take: the 0.5B model sometimes copies schema keywords
    ("title", "type", "required") into the arguments."""
    if not schema or schema.get("additionalProperties") is True:
        return arguments
    known = schema.get("properties")
    if not isinstance(known, dict):
        return arguments
    value = json.loads(arguments)
    return json.dumps({k: v for k, v in value.items() if k in known}, ensure_ascii=False)


class LocalLlamaStream(llm.LLMStream):
    def __init__(
        self,
        llm_: LocalLlamaLLM,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool],
        conn_options: APIConnectOptions,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
    ) -> None:
        super().__init__(llm_, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._local = llm_
        self._tool_choice = tool_choice
        self._id = f"local-{uuid.uuid4().hex[:12]}"

    def _prepare(
        self, loaded: LoadedLlama, *, with_tools: bool = True, nudge: bool = False, opening: str = "",
        said: str = "",
    ) -> Prepared:
        return build_prompt(
            loaded, self._local.options, self._chat_ctx, self._tools, self._tool_choice,
            with_tools=with_tools, nudge=nudge, opening=opening, said=said,
        )

    def _generate(self, prepared: Prepared, emit: Any, cancelled: threading.Event) -> int:
        """Blocking, in a worker thread: stream tokens to ``emit``; return how many were made."""
        loaded = self._local.load()
        opts = self._local.options
        grammar = None
        if prepared.grammar is not None:
            llama_cpp = require("llama_cpp", package="llama-cpp-python", extra="local-llm")
            grammar = llama_cpp.LlamaGrammar.from_string(prepared.grammar, verbose=False)
        count = 0
        with loaded.lock:
            if logger.isEnabledFor(logging.DEBUG):
                cached = _common_prefix(loaded.llama.input_ids[: loaded.llama.n_tokens].tolist(), prepared.tokens)
                logger.debug("prompt: %d tokens, %d of them cached", len(prepared.tokens), cached)
            stream = loaded.llama.create_completion(
                prepared.tokens,
                max_tokens=opts.max_tokens,
                temperature=opts.temperature,
                top_p=opts.top_p,
                repeat_penalty=opts.repeat_penalty,
                seed=opts.seed,
                stop=loaded.stop,
                stream=True,
                grammar=grammar,
            )
            with contextlib.closing(stream):  # type: ignore[type-var]  # llama_cpp types the stream as an Iterator
                for chunk in stream:
                    count += 1
                    emit(chunk["choices"][0]["text"])  # type: ignore[index]  # a TypedDict union in llama_cpp's stubs
                    if cancelled.is_set():  # the turn was interrupted: free the model
                        break
        return count

    async def _stream_generation(self, prepared: Prepared) -> _Generation:
        """Run one generation, streaming plain text as it comes; hold back what looks like a call."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                emit = lambda t: loop.call_soon_threadsafe(queue.put_nowait, t)  # noqa: E731
                count = self._generate(prepared, emit, cancelled)
                loop.call_soon_threadsafe(queue.put_nowait, (_END, count))
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, work)
        splitter = ToolCallSplitter(tools_enabled=bool(prepared.schemas))
        guard = (
            SpeechGuard(_last_user_text(self._chat_ctx), tools_used=bool(answered_calls(self._chat_ctx)))
            if self._local.options.reply_filter else None
        )
        result = _Generation()

        def speak(text: str) -> None:
            if guard is not None:
                text = guard.feed(text)
            result.streamed_text += self._send_text(text)

        try:
            speak(splitter.feed(prepared.prefix))
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise APIError(f"llama.cpp generation failed: {item}", retryable=False) from item
                if isinstance(item, tuple) and item and item[0] is _END:
                    result.completion_tokens = item[1]
                    speak(splitter.feed(prepared.suffix))
                    break
                speak(splitter.feed(item))
                if guard is not None and guard.flagged:
                    break  # tool-speak or an echo: stop generating, the caller asks again
            text, buffered = splitter.finish()
            speak(text)
            if guard is not None:
                result.streamed_text += self._send_text(guard.finish())
                result.flagged = guard.reason
            if buffered and not result.flagged:
                result.parsed = parse_tool_calls(buffered, prepared.schemas.keys())
        finally:
            cancelled.set()
            del worker  # work() never raises; an interrupted generation stops after one token
        return result

    async def _run(self) -> None:
        started = time.perf_counter()
        loaded = await asyncio.to_thread(self._local.load)
        prepared = await asyncio.to_thread(self._prepare, loaded)
        if prepared.filler:  # spoken with the call, while it is written and run
            self._send_text(prepared.filler + " ")
        gen = await self._stream_generation(prepared)
        prompt_tokens_used, completion_tokens = len(prepared.tokens), gen.completion_tokens
        parsed = gen.parsed
        retry = _RETRIED.get(gen.flagged)
        if retry is None and parsed and parsed.tool_calls and not gen.streamed_text:
            answered = answered_calls(self._chat_ctx)
            if all((c.name, _canonical(c.arguments)) in answered for c in parsed.tool_calls):
                retry = "repeated an answered tool call"  # it asks again for what it was just told
        if retry is not None:
            logger.info("%s %s; answering without tools", self._local.model, retry)
            first_text = gen.streamed_text
            # what was said stays said: the second answer goes on from it ("Good morning!" then an
            # echo of "How are you today?" was answered "Good morning! Good morning!")
            refusal = REFUSAL_OPENINGS.get(gen.flagged, "")
            prepared = await asyncio.to_thread(
                self._prepare, loaded, with_tools=False, nudge=bool(gen.flagged) and not refusal,
                opening=refusal, said="" if refusal else first_text.strip())
            gen = await self._stream_generation(prepared)
            prompt_tokens_used += len(prepared.tokens)
            completion_tokens += gen.completion_tokens
            parsed = gen.parsed
            if gen.flagged and not (first_text or gen.streamed_text):
                self._send_text(ECHO_FALLBACK if gen.flagged == "echo" else FALLBACK_REPLY)
        if parsed:
            self._send_parsed(parsed, prepared.schemas)

        elapsed = time.perf_counter() - started
        logger.debug(
            "%s: %d prompt + %d completion tokens in %.2fs", self._local.model, prompt_tokens_used,
            completion_tokens, elapsed,
        )
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=self._id,
                usage=llm.CompletionUsage(
                    completion_tokens=completion_tokens,
                    prompt_tokens=prompt_tokens_used,
                    total_tokens=completion_tokens + prompt_tokens_used,
                ),
            )
        )

    def _send_text(self, text: str) -> str:
        if text:
            self._event_ch.send_nowait(
                llm.ChatChunk(id=self._id, delta=llm.ChoiceDelta(role="assistant", content=text))
            )
        return text

    def _send_parsed(self, parsed: ParsedOutput, schemas: dict[str, dict[str, Any]]) -> None:
        self._send_text(parsed.text)
        if parsed.tool_calls:
            calls = [
                llm.FunctionToolCall(
                    name=c.name,
                    arguments=_clean_arguments(c.arguments, schemas.get(c.name)),
                    call_id=f"call_{uuid.uuid4().hex[:12]}",
                )
                for c in parsed.tool_calls
            ]
            self._event_ch.send_nowait(
                llm.ChatChunk(id=self._id, delta=llm.ChoiceDelta(role="assistant", tool_calls=calls))
            )


def create_llm(cfg: LLMConfig) -> LocalLlamaLLM:
    opts = options_from(LlamaOptions, cfg.options, field="llm.options", temperature=cfg.temperature)
    return LocalLlamaLLM(model=cfg.model, options=opts)
