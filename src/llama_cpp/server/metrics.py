"""Prometheus text exposition of the server's counters, gauges and latency histograms."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in labels)  # fmt: skip
    return "{" + inner + "}"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value
        self.n += 1


class Metrics:
    """Thread-safe metrics; also the scheduler's observer (first_token, finished)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, dict[Labels, _Histogram]] = defaultdict(dict)
        self._gauges: dict[str, Callable[[], dict[Labels, float]]] = {}
        self._help: dict[str, str] = {}

    def count(self, name: str, help_text: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._help[name] = help_text
            self._counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, name: str, help_text: str, value: float, **labels: str) -> None:
        with self._lock:
            self._help[name] = help_text
            key = tuple(sorted(labels.items()))
            self._histograms[name].setdefault(key, _Histogram()).observe(value)

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[Labels, float]]) -> None:
        """A value read when the metrics are rendered."""
        self._help[name] = help_text
        self._gauges[name] = read

    # the scheduler's observer interface
    def first_token(self, model: str, seconds: float) -> None:
        self.observe("llama_time_to_first_token_seconds", "Submission to first output.",
                     seconds, model=model)  # fmt: skip

    def finished(self, model: str, prompt_tokens: int, completion_tokens: int, reason: str) -> None:
        self.count("llama_prompt_tokens_total", "Prompt tokens read.", prompt_tokens, model=model)
        self.count("llama_tokens_generated_total", "Tokens generated.", completion_tokens,
                   model=model)  # fmt: skip
        self.count("llama_generations_total", "Generations ended, by reason.", model=model,
                   reason=reason)  # fmt: skip

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
                lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
            for name, read in sorted(self._gauges.items()):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} gauge"]
                lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(read().items())]
            for name, hists in sorted(self._histograms.items()):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} histogram"]
                for key, h in sorted(hists.items()):
                    running = 0
                    for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), h.counts, strict=True):
                        running += count
                        le = (*key, ("le", str(bound)))
                        lines.append(f"{name}_bucket{_labels(le)} {running}")
                    lines.append(f"{name}_sum{_labels(key)} {h.total:g}")
                    lines.append(f"{name}_count{_labels(key)} {h.n}")
        return "\n".join(lines) + "\n"
