"""The OpenAI-compatible server (``python -m llama_cpp.server``), built on a continuous
batching scheduler that shares one model and context among many requests.

:mod:`llama_cpp.server.scheduler` needs nothing beyond this package; the HTTP layer
needs the ``[server]`` extra.
"""
