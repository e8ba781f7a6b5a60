"""The ``llama-cpp`` command with llama.cpp's flags (run, chat, serve) and ``python -m
llama_cpp``, run as real processes on the test model."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest
from server_process import free_port

PROMPT = "The capital of France is"
EVAL_LINE = re.compile(
    r"eval time = +([\d.]+) ms / +(\d+) runs +\( *[\d.]+ ms per token, +([\d.]+) tokens per "
    r"second\)"
)
PROMPT_EVAL_LINE = re.compile(
    r"prompt eval time = +[\d.]+ ms / +(\d+) tokens \( *[\d.]+ ms per token, +[\d.]+ tokens per "
    r"second\)"
)
TURN_LINE = re.compile(r"\[ Prompt: (\d+) tokens, [\d.]+ t/s \| Generation: (\d+) tokens")


def clean_env() -> dict[str, str]:
    """This environment without the variables the server and the colours read."""
    dropped = ("MODEL", "N_CTX", "N_PARALLEL", "API_KEY", "PORT", "NO_COLOR")
    return {k: v for k, v in os.environ.items() if k not in dropped}


def llama_cpp(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llama_cpp.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )


def test_run_streams_the_text_then_llama_cpp_timings(model_path: Path) -> None:
    done = llama_cpp("run", "-m", str(model_path), "-n", "8", "-c", "256", "-p", PROMPT,
                     "--temp", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(PROMPT)
    assert "Paris" in done.stdout[len(PROMPT) :]
    assert "load time =" in done.stderr and "total time =" in done.stderr
    prompt_eval = PROMPT_EVAL_LINE.search(done.stderr)
    assert prompt_eval is not None, done.stderr
    assert int(prompt_eval.group(1)) >= 4  # the prompt's tokens went through llama.cpp
    evaluation = EVAL_LINE.search(done.stderr.replace("prompt eval time", ""))
    assert evaluation is not None, done.stderr
    ms, runs, per_second = map(float, evaluation.groups())
    assert 1 <= runs <= 8 and ms > 0 and per_second > 0
    assert "\x1b[" not in done.stdout + done.stderr


def test_run_seed_repeats_a_sampled_continuation(model_path: Path) -> None:
    args = ("run", "-m", str(model_path), "-n", "12", "-c", "128", "-p", PROMPT, "--temp", "1.0")
    first = llama_cpp(*args, "-s", "1234")
    again = llama_cpp(*args, "--seed", "1234")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout and len(first.stdout) > len(PROMPT)


def test_color_only_on_a_terminal_unless_forced(model_path: Path) -> None:
    piped = llama_cpp("run", "-m", str(model_path), "-n", "2", "-c", "128", "-co", "-p", PROMPT)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stdout and piped.stdout.startswith(PROMPT)
    forced = llama_cpp("run", "-m", str(model_path), "-n", "2", "-c", "128", "--color", "on",
                       "-p", PROMPT)  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith(f"\x1b[33m{PROMPT}\x1b[0m")


def test_prompt_from_a_file_and_escapes(model_path: Path, tmp_path: Path) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT + "\n")
    from_file = llama_cpp("run", "-m", str(model_path), "-n", "4", "-c", "128", "-f",
                          str(prompt_file), "--temp", "0")  # fmt: skip
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.startswith(PROMPT + " ") and "Paris" in from_file.stdout

    escaped = llama_cpp("run", "-m", str(model_path), "-n", "0", "-p", r"one\ntwo\tthree\x41")
    assert escaped.stdout == "one\ntwo\tthreeA\n"
    literal = llama_cpp("run", "-m", str(model_path), "-n", "0", "--no-escape", "-p", r"one\ntwo")
    assert literal.stdout == "one\\ntwo\n"
    hidden = llama_cpp("run", "-m", str(model_path), "-n", "4", "-c", "128", "--temp", "0",
                       "--no-display-prompt", "-p", PROMPT)  # fmt: skip
    assert hidden.returncode == 0 and not hidden.stdout.startswith(PROMPT)
    assert "Paris" in hidden.stdout


@pytest.mark.slow
def test_n_predict_zero_negative_and_context_full(model_path: Path) -> None:
    nothing = llama_cpp("run", "-m", str(model_path), "-n", "0", "-p", PROMPT)
    assert nothing.returncode == 0 and nothing.stdout == PROMPT + "\n"
    assert "-n 0: nothing to generate" in nothing.stderr and "load time =" in nothing.stderr
    bad = llama_cpp("run", "-m", str(model_path), "-n", "-5", "-p", PROMPT)
    assert bad.returncode == 1 and "-n -5" in bad.stderr and "-1" in bad.stderr
    # -1: until the end of the text or a full context (256 positions, llama.cpp's smallest);
    # greedy decoding goes on counting until the context is full
    counting = ", ".join(str(i) for i in range(1, 51)) + ","
    full = llama_cpp("run", "-m", str(model_path), "-n", "-1", "-c", "256", "-p", counting,
                     "--temp", "0")  # fmt: skip
    assert full.returncode == 0, full.stderr
    assert full.stdout.startswith(counting + " 51, 52")
    assert "[context full: 256 tokens; give a larger -c" in full.stderr
    assert re.search(r"total time = +[\d.]+ ms / +256 tokens", full.stderr), full.stderr


def test_bad_input_names_the_problem(model_path: Path, tmp_path: Path) -> None:
    missing = llama_cpp("run", "-m", str(tmp_path / "nope.gguf"), "-p", PROMPT)
    assert missing.returncode == 1
    assert f"model file not found: {tmp_path / 'nope.gguf'}" in missing.stderr
    assert "-m" in missing.stderr and "Traceback" not in missing.stderr
    directory = llama_cpp("chat", "-m", str(tmp_path))
    assert directory.returncode == 1 and "is a directory" in directory.stderr
    typo = llama_cpp("run", "-m", str(model_path), "--tmep", "0", "-p", PROMPT)
    assert typo.returncode == 2 and "unknown option --tmep (did you mean --temp" in typo.stderr
    no_file = llama_cpp("run", "-m", str(model_path), "-f", str(tmp_path / "none.txt"))
    assert no_file.returncode == 1 and "prompt file not found" in no_file.stderr
    too_long = llama_cpp("run", "-m", str(model_path), "-c", "256", "-p", "word " * 300)
    assert too_long.returncode == 1 and "larger -c" in too_long.stderr
    both = llama_cpp("run", "-m", str(model_path), "-p", PROMPT, "-f", str(model_path))
    assert both.returncode == 2 and "not allowed with" in both.stderr
    command = llama_cpp("chta")
    assert command.returncode == 1 and "did you mean 'chat'" in command.stderr


def test_python_m_llama_cpp_shares_the_run_code(model_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llama_cpp", "--model", str(model_path), "--prompt", PROMPT,
         "-n", "4"],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(PROMPT) and "Paris" in done.stdout  # greedy by default
    assert EVAL_LINE.search(done.stderr.replace("prompt eval time", "")) is not None
    summary = subprocess.run(
        [sys.executable, "-m", "llama_cpp"], capture_output=True, text=True, timeout=300
    )
    assert summary.returncode == 0 and "backends compiled" in summary.stdout


def turns(stderr: str) -> list[tuple[int, int]]:
    """(prompt tokens, answer tokens) of each chat turn, from the timing lines."""
    return [(int(p), int(a)) for p, a in TURN_LINE.findall(stderr)]


def test_chat_keeps_the_history_and_clear_forgets_it(model_path: Path) -> None:
    lines = "My name is Ada.\nWhat is my name?\n/clear\nMy name is Ada.\n"
    done = llama_cpp("chat", "-m", str(model_path), "-c", "1024", "-n", "24", "--temp", "0",
                     stdin=lines)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("> ") == 5  # four lines read, then the prompt that met the end
    assert "conversation cleared" in done.stderr
    (first, first_answer), (second, _), (third, _) = turns(done.stderr)
    assert first_answer > 0
    # the second prompt holds the first question and answer; after /clear it is fresh again
    assert second > first + first_answer
    assert third == first


def test_chat_system_prompt_and_exit(model_path: Path) -> None:
    plain = llama_cpp("chat", "-m", str(model_path), "-n", "4", "--temp", "0", stdin="Hi\n")
    system = llama_cpp("chat", "-m", str(model_path), "-n", "4", "--temp", "0",
                       "-sys", "You answer in French, with very long sentences.",
                       stdin="Hi\n/exit\nnever read\n")  # fmt: skip
    assert plain.returncode == 0 and system.returncode == 0, plain.stderr + system.stderr
    ((plain_prompt, _),) = turns(plain.stderr)
    ((system_prompt, _),) = turns(system.stderr)  # one turn: /exit left before the third line
    assert system_prompt != plain_prompt


@pytest.mark.slow
def test_chat_drops_the_oldest_turns_when_the_context_is_full(model_path: Path) -> None:
    # 256 positions (llama.cpp's smallest context), 16 kept for each answer
    questions = [f"Tell me about the number {n}, in one short sentence, please." for n in range(7)]
    lines = "\n".join([*questions, "word " * 300, "And the number 7?"]) + "\n"
    done = llama_cpp("chat", "-m", str(model_path), "-c", "256", "-n", "16", "--temp", "0",
                     stdin=lines)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.search(r"forgot the (\d+ )?oldest exchange", done.stderr), done.stderr
    assert "your message does not fit in the context (256 tokens)" in done.stderr
    prompts = [p for p, _ in turns(done.stderr)]
    assert len(prompts) == 8 and all(p + 16 <= 256 for p in prompts)
    assert prompts[-1] > prompts[0] + 10  # the message that did not fit left the history as it was
    assert "Traceback" not in done.stderr


class Reader:
    """Collects a pipe's text in a thread, so the test can wait for what it expects."""

    def __init__(self, pipe: IO[bytes] | None) -> None:
        assert pipe is not None
        self.text = ""
        self._fd = pipe.fileno()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            data = os.read(self._fd, 4096)
            if not data:
                return
            self.text += data.decode("utf-8", errors="replace")

    def join(self) -> None:
        """Wait for the end of the pipe (the process has exited)."""
        self._thread.join(timeout=30)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.text):
            assert time.monotonic() < deadline, f"timed out; got {self.text!r}"
            time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_stops_the_answer_and_the_chat_goes_on(model_path: Path) -> None:
    # The chat gets Ctrl-C as a terminal gives it, even when the tests themselves were started
    # with SIGINT ignored (a shell's background job): Python keeps an inherited "ignore".
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.cli", "chat", "-m", str(model_path), "-c", "2048",
         "-n", "200", "--temp", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert process.stdin is not None
    out, err = Reader(process.stdout), Reader(process.stderr)
    try:
        out.wait_for(lambda text: text.startswith("> "))
        process.stdin.write(b"Write a very long story about a dragon who learns to fly.\n")
        process.stdin.flush()
        out.wait_for(lambda text: len(text) > 40)  # the answer is streaming
        process.send_signal(signal.SIGINT)
        err.wait_for(lambda text: "[answer stopped]" in text)
        out.wait_for(lambda text: text.endswith("\n> "))  # back at the prompt
        process.stdin.write(b"Thanks!\n")
        process.stdin.flush()
        err.wait_for(lambda text: len(turns(text)) == 2)
        process.stdin.close()  # end of input at the prompt: leave
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.join()
        err.join()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
    (first, first_answer), (second, _) = turns(err.text)
    assert second > first + first_answer  # the stopped answer was kept in the history
    assert "Traceback" not in err.text


@pytest.mark.slow
def test_serve_takes_llama_server_flags(model_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.cli", "serve", "-m", str(model_path), "-c", "512",
         "-np", "2", "--port", str(port), "-a", "smol"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(url + "/health").json()["models"]["smol"]["slots"] == 2
        # -c is the total of both slots: a request has 256 positions
        body = {"prompt": "word " * 300, "max_tokens": 4}
        refused = httpx.post(url + "/v1/completions", json=body, timeout=60)
        assert refused.status_code == 400 and "256" in refused.text
        body = {"prompt": PROMPT, "max_tokens": 4, "temperature": 0}
        answer = httpx.post(url + "/v1/completions", json=body, timeout=60).json()
        assert "Paris" in answer["choices"][0]["text"]
    finally:
        process.terminate()
        try:
            _, said = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, said = process.communicate()
    assert "each request gets 256 positions (--n_ctx 256 --n_parallel 2)" in said


def test_serve_flag_errors() -> None:
    typo = llama_cpp("serve", "-m", "x.gguf", "--n_ctxx", "512")
    assert typo.returncode == 1 and "unknown option --n_ctxx (did you mean --n_ctx" in typo.stderr
    both = llama_cpp("serve", "-m", "x.gguf", "-c", "512", "--n_ctx", "256")
    assert both.returncode == 1 and "not both" in both.stderr
    small = llama_cpp("serve", "-m", "x.gguf", "-c", "40", "-np", "4")
    assert small.returncode == 1 and "10 positions per request" in small.stderr
    missing = llama_cpp("serve", "-m", "/nope.gguf", "--port", "1")
    assert missing.returncode == 1 and "model file not found: /nope.gguf" in missing.stderr
    helped = llama_cpp("serve", "--help")
    assert helped.returncode == 0 and "-np, --parallel" in helped.stdout
    assert "--n_ctx" in helped.stdout  # the server's own options follow


DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def doc_commands() -> list[str]:
    """Every line of the ```bash blocks of docs/cli.md."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not start within 60 s"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("command", doc_commands(), ids=lambda c: c[:50])
def test_docs_cli_commands_work_as_written(command: str, model_path: Path, tmp_path: Path) -> None:
    text = command.replace("path/to/model.gguf", str(model_path))
    env = clean_env()
    # `llama-cpp` and `python` are this interpreter's, as in an activated environment
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    (tmp_path / "prompt.txt").write_text("Q: What is the capital of France?\nA:")
    if not text.startswith("llama-cpp serve"):
        done = subprocess.run(["bash", "-c", text], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}{done.stderr}"
        assert "Traceback" not in done.stderr
        return
    port = free_port()
    assert "--port 8080" in text, "serve examples use --port 8080 (the test picks a free one)"
    text = text.replace("--port 8080", f"--port {port}")
    log = tmp_path / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(["bash", "-c", f"exec {text}"], cwd=tmp_path, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_healthy(process, f"http://127.0.0.1:{port}", log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
