"""Bad input, misuse and lifetime of Llama: clear errors, never a crash or hang."""

from __future__ import annotations

import math
import os
import signal
import threading
from pathlib import Path

import pytest

from llama_cpp import Llama
from llama_cpp._sampling import SamplingParams


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    return Llama(str(model_path), n_ctx=256, verbose=False)


def test_prompt_longer_than_the_context_names_both_counts(llm: Llama) -> None:
    prompt = "word " * 400
    n = len(llm.tokenize(prompt.encode()))
    with pytest.raises(ValueError, match=rf"{n}.*{llm.n_ctx()}"):
        llm(prompt, max_tokens=4)
    assert (
        "Paris"
        in llm("The capital of France is", max_tokens=8, temperature=0)["choices"][0]["text"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": -0.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": -0.1}, "top_p"),
        ({"min_p": 2.0}, "min_p"),
        ({"repeat_penalty": 0.0}, "repeat_penalty"),
        ({"mirostat_mode": 3}, "mirostat_mode"),
        ({"logprobs": -1}, "logprobs"),
        ({"logit_bias": {10**9: 1.0}}, "logit_bias"),
        ({"seed": 2**40}, "seed"),
    ],
)
def test_bad_sampling_values_are_value_errors(llm: Llama, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        llm("Hi", max_tokens=2, **kwargs)


def test_wrong_types_are_type_errors(llm: Llama) -> None:
    with pytest.raises(TypeError, match="prompt"):
        llm(12345, max_tokens=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_tokens"):
        llm("Hi", max_tokens="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stop"):
        llm("Hi", max_tokens=2, stop=[1])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_ctx": -1}, "n_ctx"),
        ({"n_batch": 0}, "n_batch"),
        ({"n_batch": -5}, "n_batch"),
        ({"n_ubatch": 0}, "n_ubatch"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_bad_constructor_values(model_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Llama(str(model_path), verbose=False, **kwargs)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        Llama(str(tmp_path / "nope.gguf"), verbose=False)


def test_n_ctx_zero_means_the_training_context(model_path: Path) -> None:
    llm = Llama(str(model_path), n_ctx=0, n_batch=64, verbose=False)
    assert llm.n_ctx() == llm.model.n_ctx_train
    llm.close()


def test_legacy_keys_are_accepted_and_unknown_keys_warned(model_path: Path) -> None:
    llm = Llama(str(model_path), n_ctx=128, f16_kv=True, n_parts=-1, device=None, verbose=False)
    llm.close()
    with pytest.warns(UserWarning, match="ignores device='cuda'.*n_gpu_layers"):
        Llama(str(model_path), n_ctx=128, device="cuda", verbose=False).close()
    with pytest.warns(UserWarning, match="n_ctxx"):
        Llama(str(model_path), n_ctxx=128, verbose=False).close()


def test_gpu_parameters_are_accepted_on_a_cpu_build(model_path: Path) -> None:
    llm = Llama(
        str(model_path), n_ctx=128, n_gpu_layers=-1, main_gpu=0, offload_kqv=True, verbose=False
    )
    assert (
        "Paris"
        in llm("The capital of France is", max_tokens=6, temperature=0)["choices"][0]["text"]
    )
    llm.close()


def test_calls_after_close_raise_a_clear_error(model_path: Path) -> None:
    llm = Llama(str(model_path), n_ctx=128, verbose=False)
    llm.close()
    with pytest.raises(ValueError, match="closed"):
        llm("Hi", max_tokens=2)
    with pytest.raises(ValueError, match="closed"):
        llm.tokenize(b"Hi")
    with Llama(str(model_path), n_ctx=128, verbose=False) as other:
        assert other("Hi", max_tokens=1)["usage"]["completion_tokens"] <= 1
    with pytest.raises(ValueError, match="closed"):
        other.create_embedding("x")


def test_threads_on_one_llama_are_serialised(llm: Llama) -> None:
    expected = llm("The capital of France is", max_tokens=16, temperature=0)["choices"][0]["text"]
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                out = llm("The capital of France is", max_tokens=16, temperature=0)
                results.append(out["choices"][0]["text"])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert results == [expected] * 12


def test_a_new_call_stops_an_unfinished_stream_with_a_clear_error(llm: Llama) -> None:
    stream = llm("Once upon a time", max_tokens=50, temperature=0, stream=True)
    next(stream)
    assert (
        "Paris"
        in llm("The capital of France is", max_tokens=8, temperature=0)["choices"][0]["text"]
    )
    with pytest.raises(RuntimeError, match="another call"):
        list(stream)
    assert (
        "Paris"
        in llm("The capital of France is", max_tokens=8, temperature=0)["choices"][0]["text"]
    )


def test_a_call_nobody_reads_leaves_the_llama_free(llm: Llama) -> None:
    # What chat handlers do: start a run, then build the response. A run that is never
    # read (the caller raised in between) must not keep the Llama: it finished in its turn.
    sampling = SamplingParams(temperature=0)
    options = dict(suffix=None, max_tokens=8, sampling=sampling, logprobs=None, echo=False,
                   stop=[], model=None, grammar=None)  # fmt: skip
    unread = llm._start_completion("The capital of France is", **options)
    out: list[str] = []
    other = threading.Thread(target=lambda: out.append(llm("Hi", max_tokens=2)["id"]))
    other.start()
    other.join(timeout=60)
    assert out, "a call on another thread waited for the unread run"
    assert "Paris" in unread.response()["choices"][0]["text"]


def test_a_failing_callback_leaves_the_llama_free(llm: Llama) -> None:
    def broken(input_ids: object, scores: object) -> object:
        raise KeyError("from the processor")

    with pytest.raises(KeyError, match="from the processor"):
        llm("Hello", max_tokens=4, logits_processor=[broken])
    out: list[str] = []
    other = threading.Thread(target=lambda: out.append(llm("Hi", max_tokens=2)["id"]))
    other.start()
    other.join(timeout=60)
    assert out


def test_an_abandoned_stream_does_not_block_later_calls(llm: Llama) -> None:
    stream = llm("Once upon a time", max_tokens=50, stream=True)
    next(stream)
    del stream
    assert llm("Hi", max_tokens=2)["usage"]["completion_tokens"] <= 2


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT with pthread_kill (POSIX only)")
def test_ctrl_c_stops_generation_and_the_llama_stays_usable(llm: Llama) -> None:
    # Ctrl-C every 0.3 s until the call stops; a handler of our own turns only the first
    # into KeyboardInterrupt, so a late one cannot reach pytest.
    received: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt

    done = threading.Event()

    def press_ctrl_c() -> None:
        while not done.wait(0.3):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]

    previous = signal.signal(signal.SIGINT, on_sigint)
    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            llm(
                "Count to a thousand: 1, 2, 3,",
                max_tokens=0,
                temperature=0,
                logit_bias={llm.token_eos(): -100.0},
            )
    finally:
        done.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
    out = llm("The capital of France is", max_tokens=8, temperature=0)
    assert "Paris" in out["choices"][0]["text"]


def test_verbose_false_prints_nothing(model_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    llm = Llama(str(model_path), n_ctx=128, verbose=False)
    llm("Hi", max_tokens=4)
    llm.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=4)
    llm.close()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_verbose_true_prints_the_load_log_and_timings(
    model_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    llm = Llama(str(model_path), n_ctx=128, verbose=True)
    llm("Hi", max_tokens=4)
    llm.close()
    _, err = capfd.readouterr()
    assert "llama_model_loader" in err
    for label in ("load time", "sample time", "prompt eval time", "eval time", "total time"):
        assert f"llama_print_timings: {label:>16} =" in err
    assert "tokens per second" in err
