"""Prompt caches: saved context states that a later call whose prompt starts the same
way restores instead of evaluating its prompt again.

``llm.set_cache(LlamaRAMCache())`` keeps the states in memory, ``LlamaDiskCache()`` in
files (they survive the process). After each completion the :class:`~llama_cpp.Llama`
stores its state under the tokens it then holds; before the next one it looks up the
stored state sharing the longest prefix with the new prompt and, when that is longer
than what the context already holds, restores it, so only the rest of the prompt is
evaluated. Both caches are bounded by ``capacity_bytes`` and evict the least recently
used states first.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_cpp.llama import LlamaState

Key = tuple[int, ...]


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two token sequences share."""
    n = 0
    for x, y in zip(a, b, strict=False):  # the shorter one ends the common prefix
        if x != y:
            break
        n += 1
    return n


class BaseLlamaCache(abc.ABC):
    """A bounded map from token sequences to saved states, looked up by longest prefix."""

    def __init__(self, capacity_bytes: int = 2 << 30):
        if not isinstance(capacity_bytes, int) or capacity_bytes <= 0:
            raise ValueError(
                f"capacity_bytes must be a positive number of bytes, got {capacity_bytes!r}"
            )
        self.capacity_bytes = capacity_bytes

    @property
    @abc.abstractmethod
    def cache_size(self) -> int:
        """Bytes of state held now."""

    @abc.abstractmethod
    def _keys(self) -> list[Key]:
        """The stored token sequences."""

    @abc.abstractmethod
    def _load(self, key: Key) -> LlamaState:
        """The state stored under ``key``, marked as just used."""

    @abc.abstractmethod
    def store(self, key: Sequence[int], state: LlamaState) -> list[int]:
        """Store ``state`` under ``key``; evict least recently used states until the cache
        fits its capacity again, and return the token counts of the evicted ones."""

    def _find_longest_prefix_key(self, key: Sequence[int]) -> Key | None:
        best, best_length = None, 0
        for stored in self._keys():
            length = common_prefix_length(stored, key)
            if length > best_length:
                best, best_length = stored, length
        return best

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        """The state sharing the longest prefix with ``key``; KeyError when none shares any."""
        found = self._find_longest_prefix_key(tuple(key))
        if found is None:
            raise KeyError("no cached state shares a prefix with these tokens")
        return self._load(found)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, Sequence):
            return False
        return self._find_longest_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], state: LlamaState) -> None:
        self.store(key, state)

    def __len__(self) -> int:
        return len(self._keys())


class LlamaRAMCache(BaseLlamaCache):
    """States kept in memory, at most ``capacity_bytes`` of them (default 2 GiB)."""

    def __init__(self, capacity_bytes: int = 2 << 30):
        super().__init__(capacity_bytes)
        self._states: OrderedDict[Key, LlamaState] = OrderedDict()

    @property
    def cache_size(self) -> int:
        return sum(state.llama_state_size for state in self._states.values())

    def _keys(self) -> list[Key]:
        return list(self._states)

    def _load(self, key: Key) -> LlamaState:
        self._states.move_to_end(key)
        return self._states[key]

    def store(self, key: Sequence[int], state: LlamaState) -> list[int]:
        key = tuple(int(t) for t in key)
        self._states[key] = state
        self._states.move_to_end(key)
        evicted = []
        while self.cache_size > self.capacity_bytes and len(self._states) > 1:
            old, _ = self._states.popitem(last=False)
            evicted.append(len(old))
        if self.cache_size > self.capacity_bytes:  # the new state alone is too big
            self._states.pop(key)
            evicted.append(len(key))
        return evicted


LlamaCache = LlamaRAMCache
"""llama-cpp-python's name for the in-memory cache."""

_SUFFIX = ".llstate"


class LlamaDiskCache(BaseLlamaCache):
    """States kept as files in ``cache_dir`` (created if missing), at most
    ``capacity_bytes`` of them; least recently used files are deleted first.

    One file per state: a JSON header line (token count, seed, state size), the tokens
    (int32), then llama.cpp's state bytes. Files are written whole and renamed into
    place, so a crash never leaves a half-written entry.
    """

    def __init__(self, cache_dir: str | os.PathLike = ".cache/llama_cache",
                 capacity_bytes: int = 2 << 30):  # fmt: skip
        super().__init__(capacity_bytes)
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[Key, Path] = {}
        for path in self.cache_dir.glob("*" + _SUFFIX):
            try:
                self._index[self._read(path, tokens_only=True)[0]] = path
            except (OSError, ValueError):
                continue  # not one of ours, or damaged: leave it alone

    @staticmethod
    def _read(path: Path, tokens_only: bool = False) -> tuple[Key, dict, bytes]:
        import numpy as np

        with path.open("rb") as f:
            header = json.loads(f.readline())
            raw = f.read(4 * int(header["n_tokens"]))
            tokens = tuple(int(t) for t in np.frombuffer(raw, dtype=np.int32))
            if len(tokens) != header["n_tokens"]:
                raise ValueError(f"{path}: truncated")
            data = b"" if tokens_only else f.read()
        if not tokens_only and len(data) != header["state_size"]:
            raise ValueError(f"{path}: truncated")
        return tokens, header, data

    @property
    def cache_size(self) -> int:
        return sum(path.stat().st_size for path in self._index.values() if path.exists())

    def _keys(self) -> list[Key]:
        return list(self._index)

    def _load(self, key: Key) -> LlamaState:
        from llama_cpp.llama import LlamaState

        path = self._index[key]
        try:
            tokens, header, data = self._read(path)
        except (OSError, ValueError) as error:
            self._index.pop(key, None)
            raise KeyError(f"cached state {path} could not be read: {error}") from error
        os.utime(path)  # recently used
        import numpy as np

        return LlamaState(
            input_ids=np.array(tokens, dtype=np.intc),
            scores=None,
            n_tokens=len(tokens),
            llama_state=data,
            llama_state_size=len(data),
            seed=int(header["seed"]),
        )

    def store(self, key: Sequence[int], state: LlamaState) -> list[int]:
        import numpy as np

        key = tuple(int(t) for t in key)
        name = hashlib.sha256(np.array(key, dtype=np.int32).tobytes()).hexdigest()[:32]
        path = self.cache_dir / (name + _SUFFIX)
        data = bytes(state.llama_state)
        header = {"n_tokens": len(key), "seed": int(state.seed), "state_size": len(data)}
        partial = path.with_suffix(".partial")
        with partial.open("wb") as f:
            f.write(json.dumps(header).encode() + b"\n")
            f.write(np.array(key, dtype=np.int32).tobytes())
            f.write(data)
        partial.replace(path)
        self._index[key] = path
        return self._evict(keep=key)

    def _evict(self, keep: Key) -> list[int]:
        entries = sorted(self._index.items(), key=lambda item: item[1].stat().st_mtime_ns)
        size = sum(path.stat().st_size for _, path in entries)
        evicted: list[int] = []
        for key, path in entries:
            if size <= self.capacity_bytes:
                break
            if key == keep and len(entries) - len(evicted) > 1:
                continue
            size -= path.stat().st_size
            path.unlink(missing_ok=True)
            del self._index[key]
            evicted.append(len(key))
        return evicted


__all__ = [
    "BaseLlamaCache",
    "LlamaCache",
    "LlamaDiskCache",
    "LlamaRAMCache",
    "common_prefix_length",
]
