"""The client side of the RPC tests, run inside the client namespace (rpc_hosts.py):
``python tests/rpc_client.py MODE MODEL ENDPOINTS [ARG]``. Prints one JSON line last.

Modes:
  generate     greedy text through the workers and locally, in one process
  load         only load through the workers (for the error cases)
  kill PID     stream through the workers, SIGKILL worker PID mid-stream, report the error
  server PID   our server with --rpc_servers, 8 concurrent streaming clients; then
               SIGKILL worker PID and report the next request and /health
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

PROMPT = "The capital of France is"


def generate(model: str, endpoints: str) -> dict[str, Any]:
    import llama_cpp

    remote = llama_cpp.Llama(model, rpc_servers=endpoints, n_gpu_layers=-1, n_ctx=512,
                             verbose=True)  # fmt: skip
    remote_text = remote(PROMPT, max_tokens=24, temperature=0)["choices"][0]["text"]
    devices = remote.model_params.devices
    remote.close()
    local = llama_cpp.Llama(model, n_ctx=512, verbose=False)
    local_text = local(PROMPT, max_tokens=24, temperature=0)["choices"][0]["text"]
    from langchain_community.llms import LlamaCpp

    # LangChain's own defaults (rope_freq_base=10000, n_batch=8, ...) change the text:
    # compare it with itself on this host
    settings = {"model_path": model, "n_gpu_layers": -1, "n_ctx": 512, "max_tokens": 24,
                "temperature": 0.0, "verbose": False}  # fmt: skip
    chain = LlamaCpp(**settings, model_kwargs={"rpc_servers": endpoints})
    langchain_text = chain.invoke(PROMPT)
    langchain_local = LlamaCpp(**settings).invoke(PROMPT)
    return {"remote": remote_text, "local": local_text, "devices": devices,
            "local_devices": local.model_params.devices, "langchain": langchain_text,
            "langchain_local": langchain_local,
            "langchain_devices": chain.client.model_params.devices}  # fmt: skip


def load(model: str, endpoints: str) -> dict[str, Any]:
    import llama_cpp

    started = time.monotonic()
    try:
        llama_cpp.Llama(model, rpc_servers=endpoints, n_gpu_layers=-1, verbose=False)
    except Exception as exc:  # the error is what the test checks
        return {"error": type(exc).__name__, "message": str(exc),
                "seconds": time.monotonic() - started}  # fmt: skip
    return {"error": None, "seconds": time.monotonic() - started}


def kill(model: str, endpoints: str, pid: int) -> dict[str, Any]:
    import llama_cpp

    llm = llama_cpp.Llama(model, rpc_servers=endpoints, n_gpu_layers=-1, n_ctx=1024,
                          verbose=False)  # fmt: skip
    killed_at = 0.0
    chunks = 0
    result: dict[str, Any] = {}
    try:
        stream = llm(PROMPT, max_tokens=900, temperature=0, stream=True,
                     logit_bias={llm.token_eos(): -100.0})  # fmt: skip
        for _ in stream:
            chunks += 1
            if chunks == 8:
                os.kill(pid, signal.SIGKILL)
                killed_at = time.monotonic()
        result["error"] = None
    except Exception as exc:
        result.update(error=type(exc).__name__, message=str(exc),
                      seconds=time.monotonic() - killed_at)  # fmt: skip
    result["chunks"] = chunks
    try:
        llm("Again", max_tokens=4)
        result["next"] = None
    except Exception as exc:
        result["next"] = f"{type(exc).__name__}: {exc}"
    llm.close()
    return result


def server(model: str, endpoints: str, pid: int) -> dict[str, Any]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", model, "--rpc_servers", endpoints,
         "--n_gpu_layers", "-1", "--n_parallel", "8", "--n_ctx", "256", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                stderr = proc.stderr.read() if proc.stderr else ""
                return {"error": "server did not start", "stderr": stderr}
            time.sleep(0.3)
        results: list[dict[str, Any]] = [{} for _ in range(8)]

        def client(i: int) -> None:
            text, done = "", False
            body = {"prompt": f"Story {i}: once upon a time", "max_tokens": 32,
                    "temperature": 0, "stream": True}  # fmt: skip
            try:
                with httpx.stream("POST", url + "/v1/completions", json=body, timeout=300) as r:
                    for line in r.iter_lines():
                        if line == "data: [DONE]":
                            done = True
                        elif line.startswith("data: "):
                            text += json.loads(line[6:])["choices"][0]["text"]
                results[i] = {"status": r.status_code, "done": done, "chars": len(text)}
            except Exception as exc:
                results[i] = {"exception": repr(exc)}

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        os.kill(pid, signal.SIGKILL)
        body = {"prompt": "After the worker", "max_tokens": 16}
        after = httpx.post(url + "/v1/completions", json=body, timeout=60)
        health = httpx.get(url + "/health", timeout=10)
        return {"error": None, "clients": results, "after": [after.status_code, after.json()],
                "health": [health.status_code, health.json()]}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    mode, model, endpoints = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "generate":
        out = generate(model, endpoints)
    elif mode == "load":
        out = load(model, endpoints)
    elif mode == "kill":
        out = kill(model, endpoints, int(sys.argv[4]))
    elif mode == "server":
        out = server(model, endpoints, int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
