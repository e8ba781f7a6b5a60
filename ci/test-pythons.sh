#!/usr/bin/env bash
# Every Python this package claims (requires-python, classifiers, the wheel matrix) that
# this machine has, besides the one .ci/run already used for the whole suite: each gets
# a virtual environment of its own, this checkout installed with the server extra (the
# llama.cpp objects come from ccache, so only the bindings compile again), and a stated
# subset: generation and completion through Llama (tests/test_llama_completion.py), the
# server as a real process with the openai client (tests/test_server.py, without the
# tests that need LangChain or LlamaIndex), and the tokenizer.
#
#   bash ci/test-pythons.sh [3.10 3.12 ...]     (default: every claimed minor found)
set -euo pipefail
cd "$(dirname "$0")/.."

# The claimed minors come from pyproject.toml's classifiers: one list, not two.
mapfile -t claimed < <(grep -oE '"Programming Language :: Python :: 3\.[0-9]+"' pyproject.toml \
    | grep -oE '3\.[0-9]+')
wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
    wanted=("${claimed[@]}")
fi
current=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

find_python() {  # the interpreter of minor $1: pyenv's, else one on PATH
    local minor=$1 root
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for candidate in "$root"/versions/"$minor".*/bin/python"$minor" "$(command -v "python$minor" || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

tested=()
missing=()
for minor in "${wanted[@]}"; do
    if [ "$minor" = "$current" ]; then
        continue  # .ci/run ran the whole suite on it
    fi
    if ! python_bin=$(find_python "$minor"); then
        missing+=("$minor")
        continue
    fi
    started=$(date +%s)
    venv="build/py$minor-venv"
    echo "== Python $minor ($python_bin)"
    rm -rf "$venv"
    "$python_bin" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q ".[server]" "pytest>=8" "openai>=1.0" "httpx>=0.27" pyyaml
    "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/test_llama_completion.py tests/test_tokenizer.py tests/test_server.py \
        -k "not langchain and not llamaindex"
    echo "== Python $minor done in $(($(date +%s) - started)) s"
    tested+=("$minor")
done
echo "Pythons tested here besides $current: ${tested[*]:-none}"
if [ ${#missing[@]} -gt 0 ]; then
    echo "claimed but not on this machine: ${missing[*]} (the wheel workflow builds and smoke-tests them)"
fi
