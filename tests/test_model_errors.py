"""Missing, empty, corrupt and truncated model files: clear Python errors, never a crash."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from llama_cpp import _core


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.gguf"
    with pytest.raises(FileNotFoundError) as caught:
        _core.Model(str(path))
    assert caught.value.errno == errno.ENOENT
    assert caught.value.filename == str(path)
    assert str(path) in str(caught.value)


def test_directory_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory"):
        _core.Model(str(tmp_path))


def test_empty_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty \(0 bytes\)"):
        _core.Model(str(path))


def test_not_a_gguf_names_the_path_and_the_cause(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>404 Not Found</html>" * 100)
    with pytest.raises(ValueError) as caught:
        _core.Model(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert "llama.cpp said" in message
    assert "magic" in message.lower()


def truncated_copy(model_path: Path, tmp_path: Path, fraction: float) -> Path:
    size = model_path.stat().st_size
    path = tmp_path / f"truncated-{fraction}.gguf"
    with model_path.open("rb") as src, path.open("wb") as dst:
        dst.write(src.read(int(size * fraction)))
    return path


@pytest.mark.parametrize("fraction", [0.0001, 0.01, 0.5, 0.999])
def test_truncated_model_is_a_value_error(
    model_path: Path, tmp_path: Path, fraction: float
) -> None:
    path = truncated_copy(model_path, tmp_path, fraction)
    with pytest.raises(ValueError) as caught:
        _core.Model(str(path))
    assert str(path) in str(caught.value)


def test_corrupt_header_is_a_value_error(model_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.gguf"
    shutil.copyfile(model_path, path)
    with path.open("r+b") as f:
        f.seek(8)  # after the magic and version: the tensor and key-value counts
        f.write(os.urandom(16))
    with pytest.raises(ValueError, match="failed to load model"):
        _core.Model(str(path))


def test_a_failed_load_leaves_the_module_usable(model_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(ValueError):
        _core.Model(str(bad))
    model = _core.Model(str(model_path))
    assert model.n_vocab == 49152
