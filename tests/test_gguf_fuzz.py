"""Corrupt GGUF files: thousands of seeded mutations of the test model's header, metadata
and tensor infos (tests/gguf_fuzz.py), each loaded in a child process. Every outcome must
be a load or a clean exception: no interpreter death (llama.cpp's failed checks while
loading are errors here), no hang. And text that is not UTF-8 in a model's metadata
loads, with replacement characters."""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf_fuzz
import pytest

from llama_cpp import Llama

CASES = 2000


def test_the_layout_reader_finds_the_test_models_fields(model_path: Path) -> None:
    head = gguf_fuzz.layout(model_path)
    assert {f.part for f in head.fields} == set(gguf_fuzz.PARTS)
    assert "general.architecture" in head.strings and head.end > 1_000_000
    name = head.strings["general.architecture"]
    with model_path.open("rb") as f:
        f.seek(name.offset)
        assert f.read(name.size) == b"llama"


def test_metadata_that_is_not_utf8_loads_with_replacement_characters(
    model_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "bad-utf8.gguf"
    shutil.copyfile(model_path, copy)
    name = gguf_fuzz.layout(model_path).strings["general.name"]
    assert name.size >= 4
    with copy.open("r+b") as f:
        f.seek(name.offset)
        f.write(b"\xff\xfe\xc3\x28")  # no UTF-8: a bad lead byte, and a lead without its tail
    llm = Llama(str(copy), n_ctx=64, verbose=False)
    try:
        value = llm.metadata["general.name"]
        assert value.startswith("\ufffd\ufffd\ufffd(")
        assert (
            "Paris"
            in llm("The capital of France is", max_tokens=4, temperature=0)["choices"][0]["text"]
        )
    finally:
        llm.close()


@pytest.mark.slow
def test_thousands_of_corrupt_headers_give_clean_errors(model_path: Path, tmp_path: Path) -> None:
    report = gguf_fuzz.run(model_path, seed=20261203, cases=CASES, workdir=tmp_path)
    print(f"{CASES} mutated files: {dict(report.outcomes)}, deaths {report.deaths}, "
          f"hangs {report.hangs}")  # fmt: skip
    assert sum(report.outcomes.values()) + len(report.deaths) + len(report.hangs) == CASES
    assert not report.unclean, report.unclean[:10]
    assert not report.hangs, f"cases that hung: {report.hangs}"
    assert not report.deaths, f"cases that killed the interpreter (case, status): {report.deaths}"
    assert report.outcomes["error ValueError"] > CASES // 2  # the mutations do break files
