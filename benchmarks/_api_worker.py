"""One side of the generation benchmark: whichever ``llama_cpp`` this interpreter imports.

Run by benchmarks/generation.py under our interpreter and under llama-cpp-python's
virtual environment; the calls are the public API both share. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import llama_cpp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--prompt-tokens", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    args = parser.parse_args()

    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=2 * (args.prompt_tokens + args.tokens),
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    no_eos = {llm.token_eos(): -1e9}  # EOS suppressed: every run makes exactly --tokens
    text = b" The history of the city goes back many centuries, to a time when"
    story = llm.tokenize(text, add_bos=False)
    long_prompt = [llm.token_bos(), *(story * args.prompt_tokens)[: args.prompt_tokens - 1]]
    short_prompt = llm.tokenize(b"Once upon a time")

    def generate() -> float:
        llm.reset()
        start = time.perf_counter()
        out = llm(short_prompt, max_tokens=args.tokens, temperature=0.0, logit_bias=no_eos)
        elapsed = time.perf_counter() - start
        assert out["usage"]["completion_tokens"] == args.tokens, out["usage"]
        return args.tokens / elapsed

    def process_prompt() -> float:
        llm.reset()
        start = time.perf_counter()
        out = llm(long_prompt, max_tokens=1, temperature=0.0)
        elapsed = time.perf_counter() - start
        assert out["usage"]["prompt_tokens"] == args.prompt_tokens, out["usage"]
        return args.prompt_tokens / elapsed

    generate()  # warm-up: first-touch of the weights and buffers
    process_prompt()
    result = {
        "tg": [generate() for _ in range(args.repeats)],
        "pp": [process_prompt() for _ in range(args.repeats)],
        "version": getattr(llama_cpp, "__version__", "?"),
    }
    llm.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
