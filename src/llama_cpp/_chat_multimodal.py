"""llama-cpp-python's multimodal chat handler names, importable so that code naming them
at import time loads; making or using one raises a NotImplementedError that says what
to use instead (image input is not in this release)."""

from __future__ import annotations

from typing import Any, NoReturn

# the chat_format names llama-cpp-python's server maps to these handlers
MULTIMODAL_FORMATS = {
    "llava-1-5": "Llava15ChatHandler",
    "obsidian": "ObsidianChatHandler",
    "llava-1-6": "Llava16ChatHandler",
    "moondream": "MoondreamChatHandler",
    "nanollava": "NanoLlavaChatHandler",
    "llama-3-vision-alpha": "Llama3VisionAlphaChatHandler",
    "minicpm-v-2.6": "MiniCPMv26ChatHandler",
    "qwen2.5-vl": "Qwen25VLChatHandler",
    "mtmd": "MTMDChatHandler",
    "gemma4": "Gemma4ChatHandler",
}


def image_input_unsupported(what: str) -> NotImplementedError:
    """The error for ``what`` (a handler or chat_format needing images)."""
    return NotImplementedError(
        f"{what} needs image input, which is not in this release of llama-cpp-pybind "
        "(llama.cpp's multimodal library, mtmd, is not bound). For text, use a text-only "
        "chat_format (e.g. chat_format=None for the model's own template, or 'chatml'); "
        "for images, run llama.cpp's llama-mtmd-cli, or llama-server with "
        "--mmproj <projector.gguf>, and call its OpenAI-compatible API."
    )


class _ImageChatHandler:
    """A multimodal chat handler name, not implemented in this release."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs  # accepted for llama-cpp-python compatibility: making one always raises
        raise image_input_unsupported(type(self).__name__)

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> NoReturn:
        """Not implemented in this release (raises NotImplementedError)."""
        del args, kwargs  # accepted for llama-cpp-python compatibility: this always raises
        raise image_input_unsupported(cls.__name__)

    def __call__(self, **kwargs: Any) -> NoReturn:
        del kwargs  # accepted for llama-cpp-python compatibility: calling one always raises
        raise image_input_unsupported(type(self).__name__)


class Llava15ChatHandler(_ImageChatHandler):
    """LLaVA 1.5 (image input: not in this release)."""


class ObsidianChatHandler(Llava15ChatHandler):
    """Obsidian (image input: not in this release)."""


class Llava16ChatHandler(Llava15ChatHandler):
    """LLaVA 1.6 (image input: not in this release)."""


class MoondreamChatHandler(Llava15ChatHandler):
    """Moondream (image input: not in this release)."""


class NanoLlavaChatHandler(Llava15ChatHandler):
    """nanoLLaVA (image input: not in this release)."""


class Llama3VisionAlphaChatHandler(Llava15ChatHandler):
    """Llama 3 Vision Alpha (image input: not in this release)."""


Llama3VisionAlpha = Llama3VisionAlphaChatHandler


class MiniCPMv26ChatHandler(Llava15ChatHandler):
    """MiniCPM-V 2.6 (image input: not in this release)."""


class Qwen25VLChatHandler(Llava15ChatHandler):
    """Qwen2.5-VL (image input: not in this release)."""


class MTMDChatHandler(_ImageChatHandler):
    """llama.cpp's mtmd multimodal handler (image input: not in this release)."""


class Gemma4ChatHandler(MTMDChatHandler):
    """Gemma multimodal (image input: not in this release)."""
