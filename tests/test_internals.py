"""llama_cpp._internals, llama-cpp-python's step-by-step classes (LlamaModel, LlamaContext,
LlamaBatch, LlamaSampler) on the generated ctypes module: the flow of llama-cpp-python's
test_real_model on the test model, agreement with Llama, memory ownership, and ValueError
(not a dead interpreter) for what llama.cpp would abort on."""

from __future__ import annotations

import ctypes
import itertools
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import llama_cpp
import llama_cpp._internals as internals
import llama_cpp.llama_cpp as capi

REPO = Path(__file__).resolve().parents[1]
VOCAB_SPM = REPO / "vendor" / "llama.cpp" / "models" / "ggml-vocab-llama-spm.gguf"
PROMPT = b"The capital of France is"
YES_NO = 'root ::= "yes" | "no"\n'


@pytest.fixture(scope="module")
def model(model_path: Path) -> Iterator[internals.LlamaModel]:
    model = internals.LlamaModel(path_model=str(model_path), verbose=False)
    yield model
    model.close()


def context_params(
    n_ctx: int = 256, n_batch: int = 64, n_seq_max: int = 1
) -> capi.llama_context_params:
    params = internals.LlamaContext.default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, n_batch, n_batch
    params.n_seq_max = n_seq_max
    params.n_threads = params.n_threads_batch = 2
    return params


@pytest.fixture
def context(model: internals.LlamaModel) -> Iterator[internals.LlamaContext]:
    context = internals.LlamaContext(model=model, params=context_params())
    yield context
    context.close()


def decode_prompt(
    model: internals.LlamaModel, context: internals.LlamaContext, prompt: bytes = PROMPT
) -> list[int]:
    tokens = model.tokenize(prompt, add_bos=True, special=False)
    with internals.LlamaBatch(n_tokens=len(tokens), embd=0, n_seq_max=1) as batch:
        batch.set_batch(tokens, n_past=0, logits_all=False)
        context.decode(batch)
    return tokens


def generate(
    model: internals.LlamaModel,
    context: internals.LlamaContext,
    sampler: internals.LlamaSampler,
    prompt_tokens: list[int],
    n: int,
) -> list[int]:
    """llama-cpp-python's test_real_model loop: decode, sample, decode the sample."""
    batch = internals.LlamaBatch(n_tokens=len(prompt_tokens), embd=0, n_seq_max=1)
    pending, n_past, output = prompt_tokens, 0, []
    for _ in range(n):
        batch.set_batch(pending, n_past=n_past, logits_all=False)
        context.decode(batch)
        n_past += len(pending)
        token = sampler.sample(context, -1)
        output.append(token)
        pending = [token]
    batch.close()
    return output


def test_importing_internals_is_cheap() -> None:
    code = "import sys, llama_cpp._internals; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---- llama-cpp-python's test_real_model ------------------------------------------------------


def test_real_model_flow(model_path: Path) -> None:
    params = llama_cpp.llama_model_default_params()
    params.check_tensors = False
    model = internals.LlamaModel(path_model=str(model_path), params=params)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = 64
    cparams.n_threads = cparams.n_threads_batch = 2
    cparams.logits_all = False  # llama-cpp-python's test sets it (no such field; ignored)
    context = internals.LlamaContext(model=model, params=cparams)
    tokens = model.tokenize(
        b"The quick brown fox jumps over the lazy dog. The quick brown fox", True, True
    )
    assert tokens[:4] == model.tokenize(b"The quick brown fox", add_bos=True, special=True)

    sampler = internals.LlamaSampler()
    sampler.add_top_k(50)
    sampler.add_top_p(0.9, 1)
    sampler.add_temp(0.8)
    sampler.add_dist(1337)
    assert sampler.stages == ("top_k", "top_p", "temp", "dist")
    assert sampler.get_seed() == 1337
    output = generate(model, context, sampler, tokens, 4)
    assert len(output) == 4
    assert all(0 <= token < model.n_vocab() for token in output)
    assert model.detokenize(output, special=True)
    assert context.kv_cache_seq_pos_max(0) == len(tokens) + 2

    model.close()
    assert context.ctx is None and context.closed
    assert model.model is None and model.vocab is None
    sampler.close()


def test_same_seed_same_tokens(model: internals.LlamaModel) -> None:
    runs = []
    for _ in range(2):
        with internals.LlamaContext(model=model, params=context_params()) as context:
            sampler = internals.LlamaSampler()
            sampler.add_top_k(40)
            sampler.add_temp(1.0)
            sampler.add_dist(7)
            runs.append(generate(model, context, sampler, model.tokenize(PROMPT, True, False), 5))
    assert runs[0] == runs[1]


def test_greedy_matches_llama(model_path: Path, model: internals.LlamaModel) -> None:
    llm = llama_cpp.Llama(str(model_path), n_ctx=256, n_batch=64, n_threads=2, verbose=False)
    try:
        tokens = llm.tokenize(PROMPT)
        expected = list(itertools.islice(llm.generate(tokens, temp=0.0), 6))
    finally:
        llm.close()
    assert model.tokenize(PROMPT, add_bos=True, special=False) == tokens
    with internals.LlamaContext(model=model, params=context_params()) as context:
        sampler = internals.LlamaSampler()
        sampler.add_greedy()
        assert generate(model, context, sampler, tokens, 6) == expected


# ---- the model ------------------------------------------------------------------------------


def test_model_facts(model: internals.LlamaModel) -> None:
    assert model.n_vocab() == 49152
    assert model.n_ctx_train() == 8192 and model.n_embd() == 576
    assert model.n_params() > 100_000_000 and model.size() > 50_000_000
    assert "Q4_1" in model.desc()
    assert model.rope_freq_scale_train() == 1.0
    assert model.vocab_type() == capi.LLAMA_VOCAB_TYPE_BPE
    metadata = model.metadata()
    assert metadata["general.architecture"] == "llama"
    assert metadata["llama.context_length"] == "8192"
    assert capi.llama_model_n_embd(model) == model.n_embd()  # _as_parameter_
    with pytest.raises(NotImplementedError, match="by name"):
        model.get_tensor("output.weight")


def test_vocabulary(model: internals.LlamaModel) -> None:
    bos, eos = model.token_bos(), model.token_eos()
    assert (bos, eos) == (1, 2) and model.token_cls() == bos
    assert model.token_get_text(bos) == "<|im_start|>"
    assert model.token_get_attr(bos) & capi.LLAMA_TOKEN_ATTR_CONTROL
    assert isinstance(model.token_get_score(bos), float)
    assert model.token_to_piece(bos) == b""
    assert model.token_to_piece(bos, special=True) == b"<|im_start|>"
    tokens = model.tokenize(PROMPT, add_bos=False, special=False)
    assert model.detokenize(tokens) == PROMPT
    long_text = "résumé ✓ ".encode() * 400
    assert model.detokenize(model.tokenize(long_text, False, False)) == long_text
    special = model.tokenize(b"<|im_start|>user", add_bos=False, special=True)
    assert special[0] == bos
    assert model.detokenize(special, special=True) == b"<|im_start|>user"
    assert model.tokenize(b"", add_bos=False, special=False) == []
    for method in (model.token_to_piece, model.token_get_text, model.token_get_attr):
        with pytest.raises(ValueError, match=r"outside this model's vocabulary \(0 to 49151\)"):
            method(49152)
    with pytest.raises(TypeError, match="encode"):
        model.tokenize("text", False, False)  # type: ignore[arg-type]


def test_vocab_only_model() -> None:
    params = internals.LlamaModel.default_params()
    params.vocab_only = True
    with internals.LlamaModel(path_model=VOCAB_SPM, params=params, verbose=False) as model:
        tokens = model.tokenize(b"Hello World", add_bos=True, special=False)
        assert tokens == [1, 15043, 2787]
        assert model.detokenize(tokens) == b"Hello World"
        assert model.tokenize(b"Hello World", add_bos=False, special=False) == [15043, 2787]
        assert model.tokenize(b"Hello World</s>", True, True) == [1, 15043, 2787, 2]
        with pytest.raises(ValueError, match="vocab_only"):
            internals.LlamaContext(model=model, params=context_params())
    assert model.closed


def test_bad_model_paths(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ValueError, match=r"model file not found: .*missing\.gguf"):
        internals.LlamaModel(path_model=missing)
    with pytest.raises(ValueError, match="is a directory"):
        internals.LlamaModel(path_model=tmp_path)
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ValueError, match=r"weights\.bin' is not a GGUF file"):
        internals.LlamaModel(path_model=not_gguf)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(10))
    with pytest.raises(ValueError, match=r"could not load the model .*truncated\.gguf"):
        internals.LlamaModel(path_model=truncated)
    with pytest.raises(TypeError, match="llama_model_params"):
        internals.LlamaModel(path_model=VOCAB_SPM, params=capi.llama_context_default_params())


# ---- closing --------------------------------------------------------------------------------


def test_closed_objects_raise_value_error(model_path: Path) -> None:
    model = internals.LlamaModel(path_model=str(model_path), verbose=False)
    context = internals.LlamaContext(model=model, params=context_params())
    batch = internals.LlamaBatch(n_tokens=8, embd=0, n_seq_max=1)
    grammar_chain = internals.LlamaSampler()
    grammar_chain.add_grammar(model, llama_cpp.LlamaGrammar.from_string(YES_NO))
    plain_chain = internals.LlamaSampler()
    plain_chain.add_greedy()

    batch.close()
    batch.close()  # idempotent
    assert batch.batch is None
    batch_calls: list[Callable[[], object]] = [
        lambda: batch.set_batch([1], 0, False),
        batch.n_tokens,
        batch.reset,
    ]
    for call in batch_calls:
        with pytest.raises(ValueError, match="LlamaBatch is closed"):
            call()

    model.close()
    assert context.ctx is None and context.memory is None
    assert grammar_chain.sampler is None  # it used the model's vocabulary
    assert plain_chain.sampler is not None  # it did not
    model_calls: list[Callable[[], object]] = [
        model.n_vocab,
        model.desc,
        lambda: model.tokenize(b"a", True, False),
    ]
    for call in model_calls:
        with pytest.raises(ValueError, match=r"LlamaModel .* is closed"):
            call()
    context_calls: list[Callable[[], object]] = [
        context.n_ctx,
        context.kv_cache_clear,
        context.get_logits,
    ]
    for call in context_calls:
        with pytest.raises(ValueError, match="LlamaContext is closed"):
            call()
    with pytest.raises(ctypes.ArgumentError) as raised:
        capi.llama_model_n_embd(model)  # through _as_parameter_
    if sys.version_info >= (3, 11):  # older ctypes replace the reason with "wrong type"
        assert "is closed" in str(raised.value)
    with pytest.raises(ValueError, match="LlamaSampler is closed"):
        grammar_chain.add_greedy()
    with pytest.raises(ValueError, match=r"LlamaModel .* is closed"):
        internals.LlamaContext(model=model, params=context_params())

    plain_chain.close()
    with pytest.raises(ValueError, match="LlamaSampler is closed"):
        plain_chain.accept(5)


def test_context_managers_free(model: internals.LlamaModel) -> None:
    with internals.LlamaContext(model=model, params=context_params()) as context:
        assert context.ctx is not None and context.n_ctx() == 256
    assert context.ctx is None
    with internals.LlamaSampler() as sampler:
        sampler.add_greedy()
    assert sampler.sampler is None
    assert not model.closed  # the model outlives its context


def test_collected_context_leaves_the_model_open(model: internals.LlamaModel) -> None:
    context = internals.LlamaContext(model=model, params=context_params())
    handle = context._handle
    assert id(handle) in model._handle._dependents
    del context
    assert handle.pointer is None  # freed when collected
    assert id(handle) not in model._handle._dependents


# ---- decoding and memory --------------------------------------------------------------------


def test_decode_failures_raise_llama_error(
    model: internals.LlamaModel, context: internals.LlamaContext
) -> None:
    batch = internals.LlamaBatch(n_tokens=64, embd=0, n_seq_max=1)
    batch.set_batch([model.n_vocab() + 3], n_past=0, logits_all=False)
    with pytest.raises(llama_cpp.LlamaError, match=r"llama_decode returned -1: invalid batch"):
        context.decode(batch)
    for step in range(4):  # fill the 256 cells
        batch.set_batch([504] * 64, n_past=64 * step, logits_all=False)
        context.decode(batch)
    batch.set_batch([504], n_past=256, logits_all=False)
    with pytest.raises(llama_cpp.LlamaError, match=r"returned 1: no room .* larger n_ctx"):
        context.decode(batch)
    assert issubclass(llama_cpp.LlamaError, RuntimeError)
    batch.reset()
    with pytest.raises(ValueError, match="the batch is empty"):
        context.decode(batch)


def test_batches_check_their_room() -> None:
    with pytest.raises(ValueError, match="n_tokens >= 1"):
        internals.LlamaBatch(n_tokens=0, embd=0, n_seq_max=1)
    batch = internals.LlamaBatch(n_tokens=4, embd=0, n_seq_max=2)
    with pytest.raises(ValueError, match=r"5 tokens do not fit in this batch of 4"):
        batch.set_batch([1, 2, 3, 4, 5], 0, False)
    batch.add_sequence([1, 2], seq_id=0, logits_all=False)
    batch.add_sequence([3], seq_id=1, logits_all=True)
    raw = batch.batch
    assert raw is not None and batch.n_tokens() == 3
    assert list(raw.pos[:3]) == [0, 1, 0] and [raw.seq_id[i][0] for i in range(3)] == [0, 0, 1]
    assert list(raw.logits[:3]) == [0, 1, 1]
    with pytest.raises(ValueError, match=r"5 tokens do not fit"):
        batch.add_sequence([4, 5], seq_id=1, logits_all=False)
    with pytest.raises(ValueError, match="no tokens given"):
        batch.set_batch([], 0, False)
    embeddings = internals.LlamaBatch(n_tokens=2, embd=8, n_seq_max=1)
    with pytest.raises(ValueError, match="holds embeddings"):
        embeddings.set_batch([1], 0, False)


def test_memory_edits(model: internals.LlamaModel) -> None:
    params = context_params(n_seq_max=2)
    params.kv_unified = True  # one cache for both sequences: seq_cp shares cells
    with internals.LlamaContext(model=model, params=params) as context:
        tokens = decode_prompt(model, context)
        assert context.kv_cache_seq_pos_min(0) == 0
        assert context.kv_cache_seq_pos_max(0) == len(tokens) - 1
        assert context.kv_cache_seq_rm(0, 2, -1)
        assert context.kv_cache_seq_pos_max(0) == 1
        context.kv_cache_seq_cp(0, 1, -1, -1)
        assert context.kv_cache_seq_pos_max(1) == 1
        context.kv_cache_seq_shift(1, 0, -1, 3)
        assert context.kv_cache_seq_pos_min(1) == 3
        context.kv_cache_seq_keep(1)
        assert context.kv_cache_seq_pos_max(0) == -1
        assert context.kv_cache_seq_rm(-1, -1, -1)  # every sequence
        assert context.kv_cache_seq_pos_max(1) == -1
        assert context.get_state_size() > 0
        context.reset_timings()
        context.print_timings()
        context.set_n_threads(1, 2)
        with pytest.raises(ValueError, match="at least 1"):
            context.set_n_threads(0, 1)
        with pytest.raises(NotImplementedError, match="add_dist"):
            context.set_rng_seed(1)


def test_logits_and_embeddings(model: internals.LlamaModel) -> None:
    n_vocab = model.n_vocab()
    with internals.LlamaContext(model=model, params=context_params()) as context:
        with pytest.raises(ValueError, match="no logits for batch position -1"):
            context.get_logits_ith(-1)
        decode_prompt(model, context)
        last = np.ctypeslib.as_array(context.get_logits_ith(-1), shape=(n_vocab,))
        first = np.ctypeslib.as_array(context.get_logits(), shape=(n_vocab,))
        assert np.array_equal(last, first)  # one output: the last token's
        with pytest.raises(ValueError, match="no logits for batch position 0"):
            context.get_logits_ith(0)
        with pytest.raises(ValueError, match="embeddings=True"):
            context.get_embeddings_seq(0)
        greedy = internals.LlamaSampler()
        greedy.add_greedy()
        assert greedy.sample(context) == int(np.argmax(last))

    params = context_params()
    params.embeddings = True
    params.pooling_type = capi.LLAMA_POOLING_TYPE_MEAN
    with internals.LlamaContext(model=model, params=params) as context:
        assert context.pooling_type() == capi.LLAMA_POOLING_TYPE_MEAN
        tokens = model.tokenize(b"hello world", True, False)
        with internals.LlamaBatch(n_tokens=len(tokens), embd=0, n_seq_max=1) as batch:
            batch.add_sequence(tokens, seq_id=0, logits_all=True)
            context.decode(batch)
        pooled = np.ctypeslib.as_array(context.get_embeddings_seq(0), shape=(model.n_embd(),))
        unit = internals.normalize_embedding(pooled)
        assert len(unit) == model.n_embd() and abs(np.linalg.norm(unit) - 1.0) < 1e-5
    assert internals.normalize_embedding([0.0, 0.0]) == [0.0, 0.0]


# ---- samplers -------------------------------------------------------------------------------


def test_every_stage_samples(model: internals.LlamaModel, context: internals.LlamaContext) -> None:
    n_vocab = model.n_vocab()
    chains: dict[str, Any] = {
        "min_p": lambda s: (s.add_min_p(0.05), s.add_dist(1)),
        "typical": lambda s: (s.add_typical(0.9), s.add_dist(1)),
        "temp_ext": lambda s: (s.add_temp_ext(0.8, 0.2, 1.0), s.add_dist(1)),
        "xtc": lambda s: (s.add_xtc(0.5, 0.1, 1, 1), s.add_dist(1)),
        "top_n_sigma": lambda s: (s.add_top_n_sigma(1.0), s.add_dist(1)),
        "penalties": lambda s: (s.add_penalties(n_vocab, 64, 1.3, 0.1, 0.1), s.add_greedy()),
        "dry": lambda s: (s.add_dry(model, 0.8, 1.75, 2, 64, ["\n", ":"]), s.add_dist(1)),
        "infill": lambda s: (s.add_top_k(40), s.add_infill(model), s.add_greedy()),
        "mirostat": lambda s: s.add_mirostat(n_vocab, 1, 5.0, 0.1, 100),
        "mirostat_v2": lambda s: s.add_mirostat_v2(1, 5.0, 0.1),
    }
    tokens = model.tokenize(PROMPT, True, False)
    for name, build in chains.items():
        context.kv_cache_clear()
        with internals.LlamaSampler() as sampler:
            build(sampler)
            output = generate(model, context, sampler, tokens, 3)
            assert all(0 <= token < n_vocab for token in output), name
            sampler.reset()


def test_logit_bias_and_softmax(
    model: internals.LlamaModel, context: internals.LlamaContext
) -> None:
    decode_prompt(model, context)
    sampler = internals.LlamaSampler()
    sampler.add_logit_bias(model.n_vocab(), {42: 100.0})
    sampler.add_greedy()
    assert sampler.sample(context) == 42
    with pytest.warns(DeprecationWarning, match="add_softmax"):
        sampler.add_softmax()
    assert sampler.stages == ("logit_bias", "greedy")
    with pytest.raises(ValueError, match="outside 0 to 49151"):
        sampler.add_logit_bias(model.n_vocab(), {49152: 1.0})


def test_grammar_constrains_the_tokens(
    model: internals.LlamaModel, context: internals.LlamaContext
) -> None:
    sampler = internals.LlamaSampler()
    sampler.add_grammar(model, llama_cpp.LlamaGrammar.from_string(YES_NO))
    sampler.add_greedy()
    tokens = decode_prompt(model, context, b"Is Paris in France? Answer:")
    text = b""
    with internals.LlamaBatch(n_tokens=1, embd=0, n_seq_max=1) as batch:
        for n_past in range(len(tokens), len(tokens) + 4):
            token = sampler.sample(context)
            if capi.llama_vocab_is_eog(model.vocab, token):
                break
            text += model.token_to_piece(token)
            batch.set_batch([token], n_past=n_past, logits_all=False)
            context.decode(batch)
    assert text in (b"yes", b"no")


def test_clone_continues_the_same_way(
    model: internals.LlamaModel, context: internals.LlamaContext
) -> None:
    decode_prompt(model, context)
    sampler = internals.LlamaSampler()
    sampler.add_top_k(40)
    sampler.add_dist(3)
    twin = sampler.clone()
    assert twin.stages == sampler.stages
    assert [sampler.sample(context) for _ in range(3)] == [twin.sample(context) for _ in range(3)]
    sampler.close()
    assert twin.sampler is not None


def test_custom_stage(model: internals.LlamaModel, context: internals.LlamaContext) -> None:
    decode_prompt(model, context)
    greedy = internals.LlamaSampler()
    greedy.add_greedy()
    best = greedy.sample(context)

    def ban_best(cur_p: Any) -> None:
        array = cur_p.contents
        for i in range(array.size):
            if array.data[i].id == best:
                array.data[i].logit = -np.inf

    sampler = internals.LlamaSampler()
    sampler.add_custom(ban_best)
    sampler.add_greedy()
    second = sampler.sample(context)
    assert second != best and 0 <= second < model.n_vocab()
    with pytest.raises(NotImplementedError, match="cannot be cloned"):
        sampler.clone()

    calls = []

    def broken(cur_p: Any) -> None:
        calls.append(cur_p)
        if len(calls) == 1:
            raise KeyError("from the custom stage")

    failing = internals.LlamaSampler()
    failing.add_custom(broken)
    failing.add_greedy()
    with pytest.raises(KeyError, match="from the custom stage"):
        failing.sample(context)
    assert failing.sample(context) == failing.sample(context)  # the error is raised once


def test_token_data_array_under_a_stage(
    model: internals.LlamaModel, context: internals.LlamaContext
) -> None:
    decode_prompt(model, context)
    n_vocab = model.n_vocab()
    logits = np.ctypeslib.as_array(context.get_logits_ith(-1), shape=(n_vocab,))
    candidates = internals.LlamaTokenDataArray(n_vocab=n_vocab)
    candidates.copy_logits(logits)
    stage = capi.llama_sampler_init_greedy()
    capi.llama_sampler_apply(stage, ctypes.byref(candidates.candidates))
    capi.llama_sampler_free(stage)
    chosen = candidates.candidates.data[candidates.candidates.selected]
    assert chosen.id == int(np.argmax(logits))


# ---- what llama.cpp aborts the process on ---------------------------------------------------

GUARDS_SCRIPT = """
import sys
import llama_cpp, llama_cpp._internals as internals

model = internals.LlamaModel(path_model=sys.argv[1], verbose=False)
params = internals.LlamaContext.default_params()
params.n_ctx, params.n_batch, params.n_ubatch, params.n_threads = 128, 16, 16, 2
context = internals.LlamaContext(model=model, params=params)
grammar = llama_cpp.LlamaGrammar.from_string('root ::= "yes" | "no"')

def case(name, call):
    try:
        call()
    except ValueError as error:
        print(name, "ValueError", error, flush=True)
    else:
        print(name, "no error", flush=True)

no_picker = internals.LlamaSampler()
no_picker.add_top_k(5)
case("sample-before-decode", lambda: no_picker.sample(context))
tokens = model.tokenize(b"The capital of France is", True, False)
batch = internals.LlamaBatch(n_tokens=32, embd=0, n_seq_max=1)
batch.set_batch(tokens, 0, False)
context.decode(batch)
case("no-picking-stage", lambda: no_picker.sample(context))
greedy = internals.LlamaSampler()
greedy.add_greedy()
case("idx-without-logits", lambda: greedy.sample(context, 0))
case("idx-out-of-range", lambda: greedy.sample(context, 99))
case("seq-out-of-range", lambda: context.kv_cache_seq_pos_max(3))
case("seq-cp-out-of-range", lambda: context.kv_cache_seq_cp(0, 1, -1, -1))
case("piece-out-of-range", lambda: model.token_to_piece(10**6))
batch.set_batch(list(range(20)), 0, False)
case("over-n-batch", lambda: context.decode(batch))
constrained = internals.LlamaSampler()
constrained.add_grammar(model, grammar)
constrained.add_greedy()
case("grammar-forbids", lambda: constrained.accept(model.token_eos()))
late = internals.LlamaSampler()
late.add_greedy()
late.add_grammar(model, grammar)
case("grammar-after-pick", lambda: late.sample(context))
def forbid_everything(cur_p):
    for i in range(cur_p.contents.size):
        cur_p.contents.data[i].logit = float("-inf")
dead = internals.LlamaSampler()
dead.add_custom(forbid_everything)
dead.add_grammar(model, grammar)
dead.add_greedy()
case("grammar-allows-nothing", lambda: dead.sample(context))
print("alive")
"""

EXPECTED_GUARDS = {
    "sample-before-decode": "no logits for batch position -1",
    "no-picking-stage": "picked no token: end it with a stage that picks one",
    "idx-without-logits": "no logits for batch position 0",
    "idx-out-of-range": "no logits for batch position 99",
    "seq-out-of-range": r"sequence id 3 is outside this context's sequences (0 to 0)",
    "seq-cp-out-of-range": "sequence id 1 is outside",
    "piece-out-of-range": "token id 1000000 is outside this model's vocabulary",
    "over-n-batch": "more than this context's n_batch (16)",
    "grammar-forbids": "the grammar does not allow token 2 here",
    "grammar-after-pick": "put the grammar before the picking stage",
    "grammar-allows-nothing": "the grammar allows none of the candidate tokens",
}


def test_what_llama_cpp_aborts_on_raises_value_error(model_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", GUARDS_SCRIPT, str(model_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "alive"
    results = dict(line.split(" ", 1) for line in lines[:-1])
    assert results.keys() == EXPECTED_GUARDS.keys()
    for name, message in EXPECTED_GUARDS.items():
        assert results[name].startswith("ValueError "), (name, results[name])
        assert message in results[name], (name, results[name])
