"""Llama.create_chat_completion: format the chat, pick the grammar (response
format, tools), run a completion and reshape it as a chat response."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llama_cpp import _tools
from llama_cpp._completion import ChunkMaker, ChunkStream, Entries
from llama_cpp._sampling import (
    SamplingParams,
    normalize_stop,
    warn_removed_options,
)
from llama_cpp.llama_chat_format import check_messages, make_formatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar, json_schema_to_gbnf

if TYPE_CHECKING:
    from llama_cpp._completion import CompletionRun
    from llama_cpp.llama import Llama

_SAMPLING_KEYS = SamplingParams.setting_names()
CHAT_DEFAULTS: dict[str, Any] = {"temperature": 0.2, "top_p": 0.95, "top_k": 40, "min_p": 0.05}


def _response_grammar(response_format: dict[str, Any] | None) -> str | None:
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        schema = response_format.get("schema")
        return json_schema_to_gbnf(schema) if schema else JSON_GBNF
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema", spec) if isinstance(spec, dict) else spec
        if not schema:
            raise ValueError("response_format json_schema needs {'json_schema': {'schema': {...}}}")
        return json_schema_to_gbnf(schema)
    raise ValueError(
        f"response_format type must be 'text', 'json_object' or 'json_schema', got {kind!r}"
    )


def _logprobs_content(entries: Any, piece: Any) -> list[dict[str, Any]]:
    out = []
    for token, lp, top in entries or []:
        text = piece(token)
        out.append(
            {
                "token": text,
                "logprob": lp,
                "bytes": list(text.encode("utf-8")),
                "top_logprobs": [
                    {"token": piece(t), "logprob": v, "bytes": list(piece(t).encode("utf-8"))}
                    for t, v in top
                ],
            }
        )
    return out


def create_chat_completion(
    llama: Llama,
    messages: Any,
    *,
    functions: list[Any] | None = None,
    function_call: Any = None,
    tools: list[Any] | None = None,
    tool_choice: Any = None,
    stream: bool = False,
    stop: Any = None,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    model: str | None = None,
    logits_processor: Any = None,
    grammar: LlamaGrammar | None = None,
    logit_bias: dict[Any, float] | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
    tfs_z: float = 1.0,
    **sampling_kwargs: Any,
) -> Any:
    unknown = set(sampling_kwargs) - _SAMPLING_KEYS
    if unknown:
        raise TypeError(
            f"create_chat_completion() got unexpected keyword argument(s) {sorted(unknown)}"
        )
    warn_removed_options(tfs_z=tfs_z)
    if llama.chat_handler is not None:
        return llama.chat_handler(
            llama=llama,
            messages=messages,
            functions=functions,
            function_call=function_call,
            tools=tools,
            tool_choice=tool_choice,
            stream=stream,
            stop=stop,
            seed=seed,
            response_format=response_format,
            max_tokens=max_tokens,
            model=model,
            logits_processor=logits_processor,
            grammar=grammar,
            logit_bias=logit_bias,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            **sampling_kwargs,
        )
    messages = check_messages(messages)
    if functions and not tools:
        tools = [{"type": "function", "function": f} for f in functions]
        if isinstance(function_call, dict):
            tool_choice = {"type": "function", "function": function_call}
        elif function_call in ("auto", "none"):
            tool_choice = function_call
    tools = _tools.check_tools(tools)
    forced = _tools.forced_tool(tools, tool_choice)
    use_tools = bool(tools) and tool_choice != "none"

    formatter = llama._formatter
    if formatter is None:
        bos = (
            llama._model.token_to_piece(llama.token_bos(), True).decode("utf-8", "ignore")
            if llama.token_bos() >= 0
            else ""
        )
        eos = (
            llama._model.token_to_piece(llama.token_eos(), True).decode("utf-8", "ignore")
            if llama.token_eos() >= 0
            else ""
        )
        formatter = llama._formatter = make_formatter(llama.chat_format, llama._model, bos, eos)
    rendered_messages = messages
    if use_tools and not getattr(formatter, "mentions_tools", False):
        note = {"role": "system", "content": _tools.tools_system_prompt(tools)}
        rendered_messages = [note, *messages]
    formatted = formatter(messages=rendered_messages, tools=tools if use_tools else None)
    prompt = formatted.prompt
    bos_text = getattr(formatter, "bos_token", "")
    if bos_text and llama.model.add_bos and prompt.startswith(bos_text):
        prompt = prompt[len(bos_text) :]  # tokenize() adds it back: keep a single BOS

    gbnf = grammar.grammar if grammar is not None else _response_grammar(response_format)
    tool_mode = use_tools and (forced is not None or tool_choice == "required")
    if tool_mode:
        gbnf = _tools.call_grammar(tools, forced)
    sampling = SamplingParams.from_call(
        {**CHAT_DEFAULTS, **sampling_kwargs, "seed": seed, "logit_bias": logit_bias},
        default_seed=llama._seed,
        n_vocab=llama.n_vocab(),
    )
    stops = normalize_stop(stop)
    stops += [s for s in normalize_stop(formatted.stop) if s not in stops]  # the format's own
    run = llama._start_completion(
        prompt,
        suffix=None,
        max_tokens=max_tokens,
        sampling=sampling,
        logprobs=(top_logprobs or 0) if logprobs else None,
        echo=False,
        stop=stops,
        model=model,
        grammar=LlamaGrammar.from_string(gbnf) if gbnf else None,
        logits_processor=logits_processor,
        stream=stream,
    )
    chat_id = "chat" + run.id
    if stream:
        maker: ChunkMaker[dict[str, Any]] = (
            _BufferedChatChunks(run, chat_id, tools, tool_mode)
            if use_tools
            else _ChatChunks(run, chat_id, llama._token_text)
        )
        return ChunkStream(run, maker)
    return _complete(
        run, chat_id, tools if use_tools else [], tool_mode, functions_api=bool(functions)
    )


def _message(
    text: str, tools: list[Any], tool_mode: bool, functions_api: bool
) -> tuple[dict[str, Any], str | None]:
    if tools:
        if tool_mode:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                # the grammar guarantees a call unless max_tokens cut it short: give the
                # text back, and finish_reason says "length"
                return {"role": "assistant", "content": text}, None
            calls = [_tools.make_call(value["name"], value["arguments"])]
        else:
            calls = _tools.parse_tool_calls(text, tools)
        if calls:
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": calls}
            if functions_api:
                message["function_call"] = calls[0]["function"]
            return message, "tool_calls"
    return {"role": "assistant", "content": text}, None


def _complete(
    run: CompletionRun, chat_id: str, tools: list[Any], tool_mode: bool, functions_api: bool
) -> dict[str, Any]:
    content, entries = run.run_to_end()
    message, reason = _message(content, tools, tool_mode, functions_api)
    return {
        "id": chat_id,
        "object": "chat.completion",
        "created": run.created,
        "model": run.model_name,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": {"content": _logprobs_content(entries, run.piece), "refusal": None}
                if run.want_logprobs
                else None,
                "finish_reason": reason or run.finish_reason(),
            }
        ],
        "usage": run.usage(),
    }


def _chunk(
    chat_id: str,
    run: CompletionRun,
    delta: dict[str, Any],
    reason: str | None,
    logprobs: Any = None,
) -> dict[str, Any]:
    return {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": run.created,
        "model": run.model_name,
        "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": reason}],
    }


class _ChatChunks:
    """Chat deltas of a completion as it runs (the ChunkMaker of a streamed chat)."""

    def __init__(self, run: CompletionRun, chat_id: str, piece: Any):
        self.run, self.chat_id, self.token_text = run, chat_id, piece
        self.held: Entries = []  # logprob entries of tokens whose text is still held back

    def begin(self) -> list[dict[str, Any]]:
        return [_chunk(self.chat_id, self.run, {"role": "assistant"}, None)]

    def piece(self, text: str, entries: Entries | None) -> list[dict[str, Any]]:
        self.held.extend(entries or [])
        if not text:
            return []
        entries, self.held = self.held, []
        logprobs = (
            {"content": _logprobs_content(entries, self.token_text), "refusal": None}
            if self.run.want_logprobs
            else None
        )
        return [_chunk(self.chat_id, self.run, {"content": text}, None, logprobs)]

    def end(self) -> list[dict[str, Any]]:
        return [_chunk(self.chat_id, self.run, {}, self.run.finish_reason())]


class _BufferedChatChunks:
    """With tools the output is only known to be a call at the end: generate, then
    stream it (the ChunkMaker of a streamed chat with tools)."""

    def __init__(self, run: CompletionRun, chat_id: str, tools: list[Any], tool_mode: bool):
        self.run, self.chat_id, self.tools, self.tool_mode = run, chat_id, tools, tool_mode
        self.text: list[str] = []

    def begin(self) -> list[dict[str, Any]]:
        return []

    def piece(self, text: str, _entries: Entries | None) -> list[dict[str, Any]]:
        self.text.append(text)
        return []

    def end(self) -> list[dict[str, Any]]:
        text = "".join(self.text)
        message, reason = _message(text, self.tools, self.tool_mode, False)
        out = [_chunk(self.chat_id, self.run, {"role": "assistant"}, None)]
        if reason == "tool_calls":
            for i, call in enumerate(message["tool_calls"]):
                function = dict(call["function"])
                delta = {"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                         "function": function}]}  # fmt: skip
                out.append(_chunk(self.chat_id, self.run, delta, None))
            out.append(_chunk(self.chat_id, self.run, {}, "tool_calls"))
            return out
        if text:
            out.append(_chunk(self.chat_id, self.run, {"content": text}, None))
        out.append(_chunk(self.chat_id, self.run, {}, self.run.finish_reason()))
        return out
