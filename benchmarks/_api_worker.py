"""One side of the generation benchmark: whichever ``llama_cpp`` this interpreter imports.

Run by benchmarks/generation.py under our interpreter and under llama-cpp-python's
virtual environment; the calls are the public API both share. Loads the model once,
then answers commands read from stdin, one per line, with the seconds the call took:

    gen N    a call making N tokens (greedy, EOS suppressed) after a 4-token prompt
    stream N the same call with stream=True, read to the end
    pp       a call with a P-token prompt (--prompt-tokens) and max_tokens=1
"""

from __future__ import annotations

import argparse
import sys
import time

import llama_cpp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--prompt-tokens", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, required=True)
    parser.add_argument("--n-gpu-layers", type=int, default=0)
    args = parser.parse_args()

    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=args.n_ctx,
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=args.n_gpu_layers,
        verbose=False,
    )
    no_eos = {llm.token_eos(): -1e9}  # EOS suppressed: every call makes exactly N tokens
    text = b" The history of the city goes back many centuries, to a time when"
    story = llm.tokenize(text, add_bos=False)
    long_prompt = [llm.token_bos(), *(story * args.prompt_tokens)[: args.prompt_tokens - 1]]
    short_prompt = llm.tokenize(b"Once upon a time")

    def generate(n: int) -> float:
        llm.reset()
        start = time.perf_counter()
        out = llm(short_prompt, max_tokens=n, temperature=0.0, logit_bias=no_eos)
        elapsed = time.perf_counter() - start
        assert out["usage"]["completion_tokens"] == n, out["usage"]
        return elapsed

    def generate_streamed(n: int) -> float:
        llm.reset()
        start = time.perf_counter()
        chunks = list(llm(short_prompt, max_tokens=n, temperature=0.0, logit_bias=no_eos,
                          stream=True))  # fmt: skip
        elapsed = time.perf_counter() - start
        assert chunks[-1]["choices"][0]["finish_reason"] == "length", chunks[-1]
        return elapsed

    def process_prompt() -> float:
        llm.reset()
        start = time.perf_counter()
        out = llm(long_prompt, max_tokens=1, temperature=0.0)
        elapsed = time.perf_counter() - start
        assert out["usage"]["prompt_tokens"] == args.prompt_tokens, out["usage"]
        return elapsed

    generate(16)  # warm-up: first touch of the weights and buffers (and a GPU's pipelines)
    process_prompt()
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "gen":
            seconds = generate(int(command[1]))
        elif command[0] == "stream":
            seconds = generate_streamed(int(command[1]))
        else:
            seconds = process_prompt()
        print(f"{seconds:.6f}", flush=True)
    llm.close()


if __name__ == "__main__":
    main()
