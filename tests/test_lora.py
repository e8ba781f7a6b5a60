"""LoRA adapters on the real test model.

No small LoRA for SmolLM2 is published, so the tests write real GGUF adapters with
llama.cpp's own gguf-py (from the pinned tree): low-rank A/B pairs on every layer's
attention query and FFN down projection. A random adapter must change the model's
output, the same adapter at scale 0 and an all-zero adapter must not, and adapters that
do not fit the model must fail with a message that says why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llama_cpp import Llama

pytestmark = pytest.mark.slow  # writing the adapters with gguf-py takes seconds

RANK = 8
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def gguf(llama_cpp_tree: Path) -> Any:
    sys.path.insert(0, str(llama_cpp_tree / "gguf-py"))
    try:
        import gguf as module
    finally:
        sys.path.pop(0)
    return module


def write_adapter(
    gguf: Any,
    model_path: Path,
    out: Path,
    *,
    scale: float,
    arch: str = "llama",
    width_error: int = 0,
) -> Path:
    """A rank-RANK LoRA for the model's attn_q and ffn_down (random, or zero if scale=0)."""
    reader = gguf.GGUFReader(str(model_path))
    rng = np.random.default_rng(1234)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(RANK))
    for tensor in reader.tensors:
        if not tensor.name.endswith(("attn_q.weight", "ffn_down.weight")):
            continue
        n_in, n_out = (int(n) for n in tensor.shape)  # ggml order: ne0 = inputs
        base = tensor.name.removesuffix(".weight")
        # numpy shapes are ggml's reversed: A has ne = (n_in, r), B has ne = (r, n_out)
        a = (rng.standard_normal((RANK, n_in + width_error)) * scale).astype(np.float32)
        b = (rng.standard_normal((n_out, RANK)) * scale).astype(np.float32)
        writer.add_tensor(f"{base}.weight.lora_a", a)
        writer.add_tensor(f"{base}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def complete(llm: Llama) -> str:
    return llm(PROMPT, max_tokens=12, temperature=0.0)["choices"][0]["text"]


@pytest.fixture(scope="module")
def base_text(model_path: Path) -> str:
    with Llama(str(model_path), n_ctx=256, verbose=False) as llm:
        return complete(llm)


@pytest.fixture(scope="module")
def adapters(gguf: Any, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("lora")
    return {
        "random": write_adapter(gguf, model_path, folder / "random.gguf", scale=0.2),
        "zero": write_adapter(gguf, model_path, folder / "zero.gguf", scale=0.0),
        "other_arch": write_adapter(gguf, model_path, folder / "gpt2.gguf", scale=0.2, arch="gpt2"),
        "bad_shape": write_adapter(
            gguf, model_path, folder / "shape.gguf", scale=0.2, width_error=3
        ),
    }


def test_a_random_adapter_changes_the_output(
    model_path: Path, adapters: Any, base_text: str
) -> None:
    assert "Paris" in base_text
    with Llama(str(model_path), n_ctx=256, lora_path=str(adapters["random"]), verbose=False) as llm:
        changed = complete(llm)
        assert changed != base_text
        assert complete(llm) == changed  # still deterministic


def test_scale_zero_and_a_zero_adapter_leave_it_unchanged(
    model_path: Path, adapters: Any, base_text: str
) -> None:
    path = str(adapters["random"])
    with Llama(str(model_path), n_ctx=256, lora_path=path, lora_scale=0.0, verbose=False) as llm:
        assert complete(llm) == base_text
    with Llama(str(model_path), n_ctx=256, lora_path=str(adapters["zero"]), verbose=False) as llm:
        assert complete(llm) == base_text


def test_adapter_metadata_is_readable(model_path: Path, adapters: Any) -> None:
    from llama_cpp import _core

    with Llama(str(model_path), n_ctx=256, verbose=False) as llm:
        adapter = _core.LoraAdapter(llm.model, str(adapters["random"]))
        assert adapter.metadata["adapter.type"] == "lora"
        assert adapter.path == str(adapters["random"])


@pytest.mark.parametrize(
    ("name", "message"),
    [("other_arch", "arch mismatch"), ("bad_shape", "incorrect shape")],
)
def test_an_adapter_for_another_model_is_refused_clearly(
    model_path: Path, adapters: Any, name: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"failed to load LoRA adapter(.|\n)*{message}"):
        Llama(str(model_path), n_ctx=256, lora_path=str(adapters[name]), verbose=False)


def test_a_missing_adapter_file(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="LoRA adapter file not found"):
        Llama(str(model_path), n_ctx=256, lora_path=str(tmp_path / "nope.gguf"), verbose=False)
