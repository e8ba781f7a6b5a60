"""The chat-format registry (llama-cpp-python's API): named chat completion handlers, and
the adapter that turns a ChatFormatter into a handler.

A handler made from a formatter runs Llama's own chat pipeline (tools, response_format,
grammars, logprobs, streaming) with that formatter's prompt, and adds the formatter's
stop strings and stopping criteria to the call's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from llama_cpp._sampling import StoppingCriteriaList, normalize_stop


@dataclass
class ChatFormatterResponse:
    """A formatted prompt and what goes with it: stop strings, stopping criteria, and
    whether the prompt already holds the BOS text (``added_special``)."""

    prompt: str
    stop: str | list[str] | None = None
    stopping_criteria: StoppingCriteriaList | None = None
    added_special: bool = False


class ChatFormatter(Protocol):
    """Turns chat messages into a prompt: ``formatter(messages=[...]) -> ChatFormatterResponse``."""

    def __call__(
        self, *, messages: list[dict[str, Any]], **kwargs: Any
    ) -> ChatFormatterResponse: ...


class LlamaChatCompletionHandler(Protocol):
    """A chat handler (``Llama(chat_handler=...)``, or registered under a chat_format name):
    called with the Llama and every create_chat_completion argument, returns the response
    (or an iterator of chunks when ``stream=True``)."""

    def __call__(self, *, llama: Any, messages: list[dict[str, Any]], **kwargs: Any) -> Any: ...


class LlamaChatCompletionHandlerNotFoundException(ValueError):
    """No handler is registered under the name asked for."""


class LlamaChatCompletionHandlerRegistry:
    """The process-wide table of chat handlers by name (one instance, shared)."""

    _instance: ClassVar[LlamaChatCompletionHandlerRegistry | None] = None
    _chat_handlers: dict[str, LlamaChatCompletionHandler]

    def __new__(cls) -> LlamaChatCompletionHandlerRegistry:
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._chat_handlers = {}
            cls._instance = instance
        return cls._instance

    def register_chat_completion_handler(
        self, name: str, chat_handler: LlamaChatCompletionHandler, overwrite: bool = False
    ) -> None:
        """Register ``chat_handler`` as ``name``; a taken name needs ``overwrite=True``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a chat format name must be a non-empty string, got {name!r}")
        if not callable(chat_handler):
            raise TypeError(f"a chat handler must be callable, got {chat_handler!r}")
        if name in self._chat_handlers and not overwrite:
            raise ValueError(
                f"a chat handler is already registered as {name!r}; pass overwrite=True to "
                "replace it, or pick another name"
            )
        self._chat_handlers[name] = chat_handler

    def unregister_chat_handler(self, name: str) -> None:
        """Remove the handler registered as ``name``."""
        if name not in self._chat_handlers:
            raise ValueError(
                f"no chat handler is registered as {name!r}; registered: {self.names()}"
            )
        del self._chat_handlers[name]

    def get_chat_completion_handler_by_name(self, name: str) -> LlamaChatCompletionHandler:
        """The handler registered as ``name``."""
        try:
            return self._chat_handlers[name]
        except (KeyError, TypeError):
            raise LlamaChatCompletionHandlerNotFoundException(
                f"no chat handler is registered as {name!r}; registered: {self.names()}"
            ) from None

    def get(self, name: str) -> LlamaChatCompletionHandler | None:
        """The handler registered as ``name``, or None."""
        return self._chat_handlers.get(name) if isinstance(name, str) else None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._chat_handlers)


def get_chat_completion_handler(name: str) -> LlamaChatCompletionHandler:
    """The handler registered as ``name`` (LlamaChatCompletionHandlerNotFoundException, a
    ValueError, when there is none)."""
    return LlamaChatCompletionHandlerRegistry().get_chat_completion_handler_by_name(name)


HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def register_chat_completion_handler(name: str) -> Callable[[HandlerT], HandlerT]:
    """Decorator: register a handler so that ``Llama(chat_format=name)`` uses it."""

    def register(handler: HandlerT) -> HandlerT:
        LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(name, handler)
        return handler

    return register


def register_chat_format(name: str) -> Callable[[HandlerT], HandlerT]:
    """Decorator: register a ChatFormatter (a function of ``messages`` returning a
    ChatFormatterResponse) so that ``Llama(chat_format=name)`` formats chats with it."""

    def register(formatter: HandlerT) -> HandlerT:
        handler = chat_formatter_to_chat_completion_handler(formatter)
        LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(name, handler)
        return formatter

    return register


class FormatterChatHandler:
    """A chat handler that formats with ``formatter`` and runs Llama's chat pipeline."""

    def __init__(self, formatter: Callable[..., ChatFormatterResponse]):
        if not callable(formatter):
            raise TypeError(f"a chat formatter must be callable, got {formatter!r}")
        self.formatter = formatter

    def __call__(self, *, llama: Any, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        from llama_cpp import _chat

        view: Any = _FormattedLlama(llama, _RecordingFormatter(self.formatter))
        return _chat.create_chat_completion(view, messages, **kwargs)

    def __repr__(self) -> str:
        return f"FormatterChatHandler({self.formatter!r})"


def chat_formatter_to_chat_completion_handler(
    chat_formatter: Callable[..., ChatFormatterResponse],
) -> LlamaChatCompletionHandler:
    """A chat handler that formats chats with ``chat_formatter``."""
    return FormatterChatHandler(chat_formatter)


class _RecordingFormatter:
    """Calls a formatter and keeps its last response (the caller reads the stops from it);
    other attributes (``bos_token``, ``mentions_tools``) are the formatter's."""

    def __init__(self, formatter: Callable[..., ChatFormatterResponse]):
        self.formatter = formatter
        self.response: ChatFormatterResponse | None = None

    def __call__(self, *, messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        response = self.formatter(messages=messages, **kwargs)
        if not isinstance(response, ChatFormatterResponse):
            raise TypeError(
                f"chat formatter {self.formatter!r} returned {type(response).__name__}; it must "
                "return a ChatFormatterResponse(prompt=..., stop=...)"
            )
        self.response = response
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.formatter, name)


class _FormattedLlama:
    """One chat call's view of a Llama: its chat handler is none and its formatter is the
    handler's, and the completion it starts also stops where the formatter says."""

    def __init__(self, llama: Any, formatter: _RecordingFormatter):
        self._llama = llama
        self._formatter = formatter
        self.chat_handler = None

    def _start_completion(self, prompt: Any, **options: Any) -> Any:
        response = self._formatter.response
        if response is not None:
            extra = [s for s in normalize_stop(response.stop) if s not in options["stop"]]
            options["stop"] = [*options["stop"], *extra]
            if response.stopping_criteria:
                options["stopping_criteria"] = response.stopping_criteria
        return self._llama._start_completion(prompt, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)
