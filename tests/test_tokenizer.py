"""Tokenizer round trips on llama.cpp's own vocab-only GGUFs and their expected outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_cpp import _core

VOCABS = ["llama-spm", "llama-bpe", "phi-3", "qwen2", "gpt-2", "falcon"]
SEPARATOR = "\n__ggml_vocab_test__\n"


def read_cases(tree: Path, vocab: str) -> list[tuple[str, list[int]]]:
    base = tree / "models" / f"ggml-vocab-{vocab}.gguf"
    raw = base.with_name(base.name + ".inp").read_bytes().decode("utf-8")
    inputs = raw.split(SEPARATOR)
    if raw.endswith(SEPARATOR):
        inputs.pop()  # the file ends with a separator, as llama.cpp's reader expects
    outputs = base.with_name(base.name + ".out").read_bytes().decode("utf-8").split("\n")
    if outputs and outputs[-1] == "":
        outputs.pop()
    assert len(inputs) == len(outputs), f"{vocab}: {len(inputs)} inputs, {len(outputs)} outputs"
    return [
        (text, [int(t) for t in line.split()]) for text, line in zip(inputs, outputs, strict=True)
    ]


@pytest.mark.parametrize("vocab", VOCABS)
def test_tokenize_matches_llama_cpp_expectations(llama_cpp_tree: Path, vocab: str) -> None:
    model = _core.Model(
        str(llama_cpp_tree / "models" / f"ggml-vocab-{vocab}.gguf"), vocab_only=True
    )
    cases = read_cases(llama_cpp_tree, vocab)
    assert len(cases) > 20
    for text, expected in cases:
        assert model.tokenize(text, add_special=False, parse_special=False) == expected, text


@pytest.mark.parametrize("vocab", ["llama-bpe", "qwen2", "gpt-2"])
def test_pieces_reassemble_the_text(llama_cpp_tree: Path, vocab: str) -> None:
    # byte-level BPE vocabularies reproduce any text exactly, piece by piece
    model = _core.Model(
        str(llama_cpp_tree / "models" / f"ggml-vocab-{vocab}.gguf"), vocab_only=True
    )
    for text, _ in read_cases(llama_cpp_tree, vocab):
        tokens = model.tokenize(text, add_special=False)
        assert b"".join(model.token_to_piece(t) for t in tokens) == text.encode("utf-8")


def test_detokenize_inverts_tokenize(llama_cpp_tree: Path) -> None:
    model = _core.Model(str(llama_cpp_tree / "models" / "ggml-vocab-qwen2.gguf"), vocab_only=True)
    for text, _ in read_cases(llama_cpp_tree, "qwen2"):
        assert model.detokenize(model.tokenize(text, add_special=False)).decode("utf-8") == text


@pytest.mark.parametrize("vocab", ["llama-bpe", "gpt-2"])
def test_detokenize_cleans_spaces_like_the_reference_tokenizer(
    llama_cpp_tree: Path, vocab: str
) -> None:
    # these vocabularies ask for clean_up_tokenization_spaces: " ?" becomes "?" and so on;
    # nothing but spaces may differ
    model = _core.Model(
        str(llama_cpp_tree / "models" / f"ggml-vocab-{vocab}.gguf"), vocab_only=True
    )
    changed = 0
    for text, _ in read_cases(llama_cpp_tree, vocab):
        result = model.detokenize(model.tokenize(text, add_special=False)).decode("utf-8")
        assert result.replace(" ", "") == text.replace(" ", "")
        changed += result != text
    assert changed > 0


def test_vocab_only_model_has_no_weights(llama_cpp_tree: Path) -> None:
    model = _core.Model(
        str(llama_cpp_tree / "models" / "ggml-vocab-llama-bpe.gguf"), vocab_only=True
    )
    assert model.n_vocab == 128256
    assert model.tokenize("Hello", add_special=True)[0] == model.token_bos


def test_llama_tokenize_and_detokenize_as_llama_cpp_python_does(llama_cpp_tree: Path) -> None:
    # llama-cpp-python's rules (its tests/test_llama.py): BOS added unless add_bos=False,
    # control text parsed only with special=True, pieces joined with their spaces kept
    # except the one after a leading BOS, so text detokenized token by token joins up
    from llama_cpp import Llama

    llama = Llama(str(llama_cpp_tree / "models" / "ggml-vocab-llama-spm.gguf"), vocab_only=True,
                  verbose=False)  # fmt: skip
    bos, eos = llama.token_bos(), llama.token_eos()
    tokens = llama.tokenize(b"Hello World")
    assert tokens == [bos, 15043, 2787]
    assert llama.detokenize(tokens) == b"Hello World"
    assert llama.tokenize(b"Hello World", add_bos=False) == [15043, 2787]
    assert llama.detokenize([15043, 2787]) == b" Hello World"
    assert b"".join(llama.detokenize([t]) for t in tokens[1:]) == b" Hello World"
    assert llama.detokenize([2787], prev_tokens=tokens[:2]) == b" World"
    assert llama.tokenize(b"Hello World</s>") == [bos, 15043, 2787, 829, 29879, 29958]
    assert llama.tokenize(b"Hello World</s>", special=True) == [bos, 15043, 2787, eos]
    assert llama.tokenize(b"", add_bos=True, special=True) == [bos]
    assert llama.detokenize([bos]) == b""
    assert llama.detokenize([bos, 15043], special=True) == b"<s> Hello"
