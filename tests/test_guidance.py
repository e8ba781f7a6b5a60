"""guidance's llama.cpp model (``guidance.models.LlamaCpp``) running on llama_cpp,
unchanged. It drives the low-level API on the Llama's own pointers (``llama_batch_init``,
``llama_decode(llm.ctx, ...)``, ``llama_get_logits``, ``llama_memory_seq_rm``) and builds
its token parser from the vocabulary (llguidance reads ``llama_cpp.llama_vocab_p``):
``gen`` free and with a regex, ``select``, and reuse of its KV cache across calls."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from integrations import require


@pytest.fixture(scope="module")
def lm(model_path: Path) -> Any:
    models = require("guidance.models")
    with warnings.catch_warnings():
        # guidance cannot map SmolLM2's Jinja chat template to one of its classes and says
        # so; the tests use no chat roles
        warnings.filterwarnings("ignore", "Chat template", UserWarning)
        return models.LlamaCpp(str(model_path), n_ctx=512, echo=False)


def test_gen_continues_the_text(lm: Any) -> None:
    guidance = require("guidance")
    out = lm + "The capital of France is" + guidance.gen("answer", max_tokens=8)
    assert out["answer"].strip()


def test_gen_with_a_regex(lm: Any) -> None:
    guidance = require("guidance")
    out = lm + "Phone number: " + guidance.gen("phone", regex=r"[0-9]{3}-[0-9]{4}")
    assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", out["phone"])


def test_select_picks_one_option(lm: Any) -> None:
    guidance = require("guidance")
    out = lm + "Is Paris in France? Answer: " + guidance.select(["yes", "no"], name="choice")
    assert out["choice"] in ("yes", "no")


def test_a_longer_program_reuses_its_prefix(lm: Any) -> None:
    guidance = require("guidance")
    base = lm + "List three colours: red, green,"
    first = base + guidance.gen("a", max_tokens=4, temperature=0.0)
    second = base + guidance.gen("b", max_tokens=4, temperature=0.0)
    assert first["a"] == second["b"]  # same prefix, greedy: the same continuation
