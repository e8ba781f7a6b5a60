"""Code written for llama-cpp-python finds its names here: the OpenAI-shaped types and
the submodules at the top level, the Llama's low-level members (tokenizer(), eval,
sample, scores, eval_tokens, eval_logits) and the explicit keyword signatures of the
completion calls, behaving as that code expects on the real model."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
from llama_cpp.llama_tokenizer import LlamaHFTokenizer, LlamaTokenizer

PROMPT = "The capital of France is"

# llama-cpp-python 0.3.36's keyword parameters (read from its source), which callers pass
# by name
COMPLETION_PARAMETERS = [
    "prompt",
    "suffix",
    "max_tokens",
    "temperature",
    "top_p",
    "min_p",
    "typical_p",
    "logprobs",
    "echo",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "repeat_penalty",
    "top_k",
    "stream",
    "seed",
    "tfs_z",
    "mirostat_mode",
    "mirostat_tau",
    "mirostat_eta",
    "model",
    "stopping_criteria",
    "logits_processor",
    "grammar",
    "logit_bias",
]
CHAT_PARAMETERS = [
    "messages",
    "functions",
    "function_call",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "typical_p",
    "stream",
    "stop",
    "seed",
    "response_format",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "tfs_z",
    "mirostat_mode",
    "mirostat_tau",
    "mirostat_eta",
    "model",
    "logits_processor",
    "grammar",
    "logit_bias",
    "logprobs",
    "top_logprobs",
]


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    llama = Llama(str(model_path), n_ctx=256, verbose=False)
    yield llama
    llama.close()


def test_every_llama_types_name_is_importable_from_the_package() -> None:
    names = llama_cpp.llama_types.__all__
    wanted = {"ChatCompletionRequestUserMessage", "ChatCompletionMessageToolCall",
              "ChatCompletionFunctionParameters", "CreateCompletionResponse"}  # fmt: skip
    assert wanted <= set(names)
    for name in names:
        assert getattr(llama_cpp, name) is getattr(llama_cpp.llama_types, name)
    assert "Optional" not in names  # the typing helpers are not re-exported as types


@pytest.mark.parametrize("name", sorted(llama_cpp._SUBMODULES))
def test_submodules_are_attributes_of_the_package(name: str) -> None:
    import importlib

    module = getattr(llama_cpp, name)
    assert module is importlib.import_module(f"llama_cpp.{name}")


def test_caches_tokenizers_and_draft_models_are_top_level_names() -> None:
    from llama_cpp import (
        BaseLlamaCache,
        BaseLlamaTokenizer,
        LlamaCache,
        LlamaDiskCache,
        LlamaDraftModel,
        LlamaRAMCache,
    )

    assert LlamaCache is LlamaRAMCache and issubclass(LlamaDiskCache, BaseLlamaCache)
    assert issubclass(LlamaTokenizer, BaseLlamaTokenizer)
    assert issubclass(LlamaPromptLookupDecoding, LlamaDraftModel)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        llama_cpp.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("create_completion", COMPLETION_PARAMETERS),
        ("__call__", COMPLETION_PARAMETERS),
        ("create_chat_completion", CHAT_PARAMETERS),
    ],
)
def test_completion_calls_have_explicit_keyword_parameters(method: str, expected: list) -> None:
    parameters = inspect.signature(getattr(Llama, method)).parameters
    assert [p for p in expected if p not in parameters] == []
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def test_create_chat_completion_defaults_follow_llama_cpp_python() -> None:
    defaults = {k: p.default for k, p in inspect.signature(Llama.create_chat_completion)
                .parameters.items()}  # fmt: skip
    assert defaults["temperature"] == 0.2 and defaults["top_k"] == 40
    assert defaults["stream"] is False and defaults["max_tokens"] is None


def test_the_tokenizer_round_trips_text(llm: Llama) -> None:
    tokenizer = llm.tokenizer()
    assert tokenizer is llm.tokenizer_ and isinstance(tokenizer, LlamaTokenizer)
    ids = tokenizer.encode("Hello, world! Ünïcode too.", add_bos=False)
    assert ids == llm.tokenize(b"Hello, world! \xc3\x9cn\xc3\xafcode too.", add_bos=False)
    assert tokenizer.decode(ids) == "Hello, world! Ünïcode too."
    # detokenize with prev_tokens gives the text as it reads after them
    head, tail = ids[:3], ids[3:]
    assert tokenizer.detokenize(tail, prev_tokens=head) == tokenizer.decode(ids)[
        len(tokenizer.decode(head)) :
    ].encode("utf-8")


def test_a_tokenizer_from_a_gguf_file_alone(model_path: Path) -> None:
    tokenizer = LlamaTokenizer.from_ggml_file(str(model_path))
    assert tokenizer.decode(tokenizer.encode("river bank", add_bos=False)) == "river bank"


def test_the_hf_tokenizer_needs_transformers_and_says_so() -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install transformers"):
            LlamaHFTokenizer.from_pretrained("any/name")
    else:
        pytest.skip("transformers is installed here")


class WordTokenizer:
    """The part of a Hugging Face tokenizer LlamaHFTokenizer.tokenize uses: ids of
    words, with its BOS (id 1) as the special tokens it adds."""

    bos_token_id = 1

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = [len(word) + 10 for word in text.split()]
        return [self.bos_token_id, *ids] if add_special_tokens else ids


def test_the_hf_tokenizer_honours_add_bos() -> None:
    tokenizer = LlamaHFTokenizer(WordTokenizer())
    assert tokenizer.tokenize(b"river bank") == [1, 15, 14]
    assert tokenizer.tokenize(b"river bank", add_bos=False) == [15, 14]
    assert tokenizer.tokenize(b"river bank", special=False) == [15, 14]


def test_eval_then_sample_picks_what_generation_picks(llm: Llama) -> None:
    expected = llm(PROMPT, max_tokens=1, temperature=0.0)["choices"][0]["text"]
    llm.reset()
    tokens = llm.tokenize(PROMPT.encode())
    llm.eval(tokens)
    assert llm.n_tokens == len(tokens)
    assert list(llm.eval_tokens) == tokens
    token = llm.sample(temp=0.0)
    assert llm.detokenize([token]).decode() == expected
    assert token == int(np.argmax(llm.scores[llm.n_tokens - 1]))
    assert llm.scores.shape == (llm.n_ctx(), llm.n_vocab())
    (last,) = llm.eval_logits
    assert int(np.argmax(last)) == token


def test_with_logits_all_every_row_is_kept(llm: Llama, model_path: Path) -> None:
    llama = Llama(str(model_path), n_ctx=128, logits_all=True, verbose=False)
    try:
        tokens = llama.tokenize(PROMPT.encode())
        llama.eval(tokens)
        rows = llama._scores
        assert rows.shape == (len(tokens), llama.n_vocab())
        assert len(llama.eval_logits) == len(tokens)
        # row k holds the logits after token k: the same as evaluating tokens[: k + 1] alone
        for k in (1, len(tokens) - 1):
            llm.reset()
            llm.eval(tokens[: k + 1])
            alone = llm.ctx.logits()
            assert np.allclose(rows[k], alone, atol=0.05), k
            assert int(np.argmax(rows[k])) == int(np.argmax(alone))
        assert llama.sample(temp=0.0, idx=1) == int(np.argmax(rows[1]))
    finally:
        llama.close()


def test_sample_explains_misuse(llm: Llama) -> None:
    llm.reset()
    with pytest.raises(ValueError, match="call eval"):
        llm.sample()
    llm.eval(llm.tokenize(PROMPT.encode()))
    with pytest.raises(ValueError, match="logits_all=True"):
        llm.sample(idx=0)


@pytest.mark.parametrize(
    ("ids", "n", "k", "expected"),
    [
        ([1, 2, 3, 1, 2, 3, 1, 2, 3], 3, 2, [1, 2]),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 2, []),
        ([5, 6, 7, 9, 5, 6], 2, 3, [7, 9, 5]),
        ([4], 2, 3, []),
    ],
)
def test_prompt_lookup_candidates(ids: list[int], n: int, k: int, expected: list[int]) -> None:
    found = LlamaPromptLookupDecoding.find_candidate_pred_tokens(np.array(ids), n, k)
    assert found.tolist() == expected
    assert LlamaPromptLookupDecoding(n, k)(np.array(ids, dtype=np.intc)).tolist() == expected


def test_options_llama_cpp_removed_warn_only_when_set(llm: Llama) -> None:
    # their no-op values say nothing (filterwarnings=error would fail the call)
    llm("Hi", max_tokens=2, tfs_z=1.0)
    with pytest.warns(UserWarning, match="tail-free sampling"):
        llm("Hi", max_tokens=2, tfs_z=0.95)
    with pytest.warns(UserWarning, match="tail-free sampling"):
        llm.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=2, tfs_z=0.9)
    tokens = llm.tokenize(b"Hello")
    llm.eval(tokens)
    with pytest.warns(UserWarning, match="newline token"):
        llm.sample(penalize_nl=False)
    with pytest.warns(UserWarning, match="newline token"):
        next(iter(llm.generate(tokens, penalize_nl=False)))


def test_lora_base_warns_and_numa_is_checked(model_path: Path) -> None:
    with pytest.warns(UserWarning, match="lora_base is ignored"):
        Llama(str(model_path), lora_base="base.gguf", n_ctx=64, verbose=False).close()
    with pytest.raises(ValueError, match="GGML_NUMA_STRATEGY_"):
        Llama(str(model_path), numa=9, verbose=False)


def test_numa_initialises_llama_cpp_once_per_process(model_path: Path) -> None:
    # in a child: llama_numa_init sets thread placement for the whole process
    code = (
        "import sys, llama_cpp\n"
        "llm = llama_cpp.Llama(sys.argv[1], numa=True, n_ctx=64, verbose=False)\n"
        "out = llm('The capital of France is', max_tokens=3, temperature=0)\n"
        "print(out['choices'][0]['text'])\n"
        "llama_cpp.Llama(sys.argv[1], numa=1, n_ctx=64, verbose=False)\n"  # the same: fine
        "try:\n"
        "    llama_cpp.Llama(sys.argv[1], numa=2, n_ctx=64, verbose=False)\n"
        "except ValueError as e:\n"
        "    print('refused:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Paris" in done.stdout
    assert "refused: numa=2: this process already set NUMA strategy 1" in done.stdout
