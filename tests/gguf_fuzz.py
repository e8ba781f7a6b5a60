"""Seeded mutations of a GGUF file's header, metadata and tensor infos, loaded by llama.cpp
through our bindings in a child process, for tests/test_gguf_fuzz.py.

:func:`layout` reads where each field of the file's head lies (GGUF v3: magic, version,
tensor and key counts, each key/value, each tensor's name, dimensions, type and offset).
A case overwrites a few of those fields in place (same size, so the tensor data stays
where it was): a count, length, type or dimension set to an edge value, a byte of a key
or string flipped, random bytes over a field. The child (``python gguf_fuzz.py child
FILE SEED FIRST COUNT``) applies each case to its own copy, loads it with ``Llama``, and
prints a line before and after every load, so that the parent can tell a clean error
(an exception) from an interpreter death (no line after) and a hang (no line in time).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# GGUF value types (gguf.h): sizes of the fixed-size ones
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
MARK = "@gguf-fuzz@"
EDGE_INTS = (0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 0x7FFF, 255)


@dataclass
class Field:
    """One field of the file's head: where it is, how long, and what it holds."""

    offset: int
    size: int
    kind: str  # "int" (little-endian unsigned of `size` bytes) or "bytes"
    part: str  # "header", "metadata", "array" (inside an array value) or "tensors"


@dataclass
class Layout:
    fields: list[Field] = field(default_factory=list)
    strings: dict[str, Field] = field(default_factory=dict)  # metadata key -> its text
    end: int = 0  # where the tensor infos end


class _Reader:
    def __init__(self, data: bytes, out: Layout):
        self.data, self.pos, self.out = data, 0, out
        self.part = "header"

    def int(self, size: int) -> int:
        self.out.fields.append(Field(self.pos, size, "int", self.part))
        value = int.from_bytes(self.data[self.pos : self.pos + size], "little")
        self.pos += size
        return value

    def string(self) -> None:
        length = self.int(8)
        self.out.fields.append(Field(self.pos, length, "bytes", self.part))
        self.pos += length

    def value(self, kind: int) -> None:
        if kind in _FIXED:
            self.out.fields.append(Field(self.pos, _FIXED[kind], "int", self.part))
            self.pos += _FIXED[kind]
        elif kind == _STRING:
            self.string()
        elif kind == _ARRAY:
            inner, count = self.int(4), self.int(8)
            part, self.part = self.part, "array"
            if inner in _FIXED:  # one field for the whole array
                self.out.fields.append(Field(self.pos, _FIXED[inner] * count, "bytes", "array"))
                self.pos += _FIXED[inner] * count
            else:
                for _ in range(count):
                    self.value(inner)
            self.part = part
        else:
            raise ValueError(f"unknown GGUF value type {kind} at {self.pos}")


def layout(path: Path) -> Layout:
    """The fields of ``path``'s head (its header, key/values and tensor infos)."""
    with path.open("rb") as f:
        data = f.read(64 * 1024 * 1024)
    out = Layout()
    reader = _Reader(data, out)
    assert data[:4] == b"GGUF", "not a GGUF file"
    reader.pos = 4
    reader.int(4)  # version
    n_tensors, n_kv = reader.int(8), reader.int(8)
    reader.part = "metadata"
    for _ in range(n_kv):
        reader.string()
        key = data[out.fields[-1].offset : out.fields[-1].offset + out.fields[-1].size]
        kind = reader.int(4)
        reader.value(kind)
        if kind == _STRING:
            out.strings[key.decode("utf-8", "replace")] = out.fields[-1]
    reader.part = "tensors"
    for _ in range(n_tensors):
        reader.string()
        n_dims = reader.int(4)
        for _ in range(n_dims):
            reader.int(8)
        reader.int(4)  # type
        reader.int(8)  # offset
    out.end = reader.pos
    return out


PARTS = ("header", "metadata", "array", "tensors")


def mutation(fields: list[Field], seed: int, case: int) -> list[tuple[int, bytes]]:
    """Case ``case``'s writes: (offset, bytes) pairs over 1 to 3 fields, each from a part
    of the head picked first (the vocabulary's arrays would otherwise get nearly all)."""
    rng = random.Random(seed * 1_000_003 + case)
    by_part = {part: [f for f in fields if f.part == part] for part in PARTS}
    writes = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        f = rng.choice(by_part[rng.choice(PARTS)])
        if f.size == 0:
            continue
        if f.kind == "int":
            value = rng.choice(EDGE_INTS) if rng.random() < 0.7 else rng.getrandbits(8 * f.size)
            writes.append((f.offset, (value % 2 ** (8 * f.size)).to_bytes(f.size, "little")))
        else:
            at = f.offset + rng.randrange(f.size)
            n = min(rng.choice((1, 1, 4, 16)), f.offset + f.size - at)
            writes.append((at, bytes(rng.getrandbits(8) for _ in range(n))))
    return writes


def _child(path: Path, seed: int, first: int, count: int) -> None:
    """Load every case in [first, first + count) from a private copy of ``path``."""
    from llama_cpp import Llama

    head = layout(path)
    fields = head.fields
    copy = Path(os.environ["GGUF_FUZZ_COPY"])
    if not copy.is_file() or copy.stat().st_size != path.stat().st_size:
        shutil.copyfile(path, copy)
    with path.open("rb") as f:
        original = f.read(head.end)
    with copy.open("r+b") as f:
        f.write(original)
    for case in range(first, first + count):
        writes = mutation(fields, seed, case)
        with copy.open("r+b") as f:
            for offset, data in writes:
                f.seek(offset)
                f.write(data)
        print(f"{MARK} start {case}", flush=True)
        outcome = "loaded"
        try:
            Llama(str(copy), n_ctx=64, n_batch=64, verbose=False).close()
        except (ValueError, RuntimeError, OSError, MemoryError) as error:
            outcome = f"error {type(error).__name__}"
        except BaseException as error:
            outcome = f"unclean {type(error).__name__}: {str(error)[:200]!r}"
        print(f"{MARK} end {case} {outcome}", flush=True)
        with copy.open("r+b") as f:  # undo
            for offset, data in writes:
                f.seek(offset)
                f.write(original[offset : offset + len(data)])


@dataclass
class Report:
    outcomes: Counter[str] = field(default_factory=Counter)
    deaths: list[tuple[int, int]] = field(default_factory=list)  # (case, exit status)
    hangs: list[int] = field(default_factory=list)
    unclean: list[str] = field(default_factory=list)


def run(path: Path, seed: int, cases: int, workdir: Path, timeout_s: float = 30.0) -> Report:
    """Runs ``cases`` mutations in child processes, restarting one after each death."""
    report = Report()
    env = {**os.environ, "GGUF_FUZZ_COPY": str(workdir / "mutated.gguf")}
    next_case = 0
    while next_case < cases:
        command = [sys.executable, __file__, "child", str(path), str(seed)]
        child = subprocess.Popen(
            [*command, str(next_case), str(cases - next_case)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert child.stdout is not None
        started: int | None = None
        last = time.monotonic()
        os.set_blocking(child.stdout.fileno(), False)
        buffer = ""
        while True:
            chunk = (child.stdout.read() or b"").decode()
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if not line.startswith(MARK + " "):
                    continue  # something llama.cpp printed
                last = time.monotonic()
                word, case, *rest = line[len(MARK) + 1 :].split(" ", 2)
                if word == "start":
                    started = int(case)
                else:
                    started, next_case = None, int(case) + 1
                    outcome = rest[0] if rest else ""
                    report.outcomes[outcome.split(":")[0]] += 1
                    if outcome.startswith("unclean"):
                        report.unclean.append(f"case {case}: {outcome}")
            if child.poll() is not None and not chunk:
                break
            if started is not None and time.monotonic() - last > timeout_s:
                child.kill()
                report.hangs.append(started)
                break
            time.sleep(0.01)
        child.wait()
        child.stdout.close()
        if started is not None:
            if not report.hangs or report.hangs[-1] != started:
                report.deaths.append((started, child.returncode))
            next_case = started + 1
        elif child.returncode not in (0, None) and next_case < cases:
            report.deaths.append((next_case, child.returncode))
            next_case += 1
    return report


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    _child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
