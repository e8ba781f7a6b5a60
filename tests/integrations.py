"""Importing the third-party clients the integration tests drive.

They are test dependencies (the README's test command installs them), so a
missing one fails the test with the command that installs it instead of
quietly skipping.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import pytest

INSTALL_HINT = {
    "langchain_community": 'pip install ".[test]"',
    "llama_index.core": 'pip install ".[test]"',
    "langchain_openai": 'pip install ".[test]"',
    # Its metadata requires llama-cpp-python, which would overwrite llama_cpp.
    "llama_index.llms.llama_cpp": "pip install --no-deps llama-index-llms-llama-cpp",
    "autogen_ext.models.llama_cpp": 'pip install ".[test]"',
    "autogen_core.models": 'pip install ".[test]"',
    "haystack.dataclasses": 'pip install ".[test]"',
    "haystack.tools": 'pip install ".[test]"',
    "outlines": 'pip install ".[test]"',
    "outlines.types": 'pip install ".[test]"',
    "guidance": 'pip install ".[test]"',
    "guidance.models": 'pip install ".[test]"',
    "instructor": 'pip install ".[test]"',
    "llama_cpp_agent": "pip install --no-deps llama-cpp-agent",
    "llama_cpp_agent.providers": "pip install --no-deps llama-cpp-agent",
    "llama_cpp_agent.llm_output_settings": "pip install --no-deps llama-cpp-agent",
    "haystack_integrations.components.generators.llama_cpp": (
        "pip install --no-deps llama-cpp-haystack"
    ),
}

CHATML = "<|im_start|>{role}\n{content}<|im_end|>\n"


def require(module: str) -> ModuleType:
    """Import `module`, or fail naming the command that installs it."""
    try:
        with warnings.catch_warnings():
            # langchain-community announces its sunset on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(module)
    except ImportError as error:
        pytest.fail(f"{module} is not installed ({error}); run: {INSTALL_HINT[module]}")


def chatml_prompt(question: str) -> str:
    """SmolLM2's chat format around one user turn, ready for a plain completion."""
    return CHATML.format(role="user", content=question) + "<|im_start|>assistant\n"
