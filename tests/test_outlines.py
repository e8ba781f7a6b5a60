"""Outlines (``outlines.from_llamacpp``) running on llama_cpp, unchanged: plain text, and
its constrained modes — a JSON object from a pydantic model, a regular expression, a
choice — which it drives through llama.cpp's vocabulary read with the low-level API
(``llama_cpp.llama_model_get_vocab(llm.model)``, ``llama_token_to_piece``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pytest
from integrations import require
from pydantic import BaseModel

from llama_cpp import Llama


class City(BaseModel):
    name: str
    country: str


@pytest.fixture(scope="module")
def model(model_path: Path) -> Any:
    outlines = require("outlines")
    llm = Llama(str(model_path), n_ctx=512, verbose=False)
    yield outlines.from_llamacpp(llm)
    llm.close()


def test_plain_text(model: Any) -> None:
    text = model("The capital of France is", max_tokens=8)
    assert isinstance(text, str) and text.strip()


def test_a_json_object_from_a_pydantic_model(model: Any) -> None:
    answer = model(
        "Paris, as JSON with its name and country:", City, max_tokens=96, temperature=0.0
    )  # greedy: a sampled ramble could be cut off mid-string
    city = City.model_validate_json(answer)
    assert city.name


def test_a_regular_expression(model: Any) -> None:
    types = require("outlines.types")
    answer = model("A phone number:", types.Regex(r"[0-9]{3}-[0-9]{4}"), max_tokens=16)
    assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", answer)


def test_a_choice(model: Any) -> None:
    assert model("Is Paris in France? Answer:", Literal["yes", "no"]) in ("yes", "no")
