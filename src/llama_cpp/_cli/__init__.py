"""The ``llama-cpp`` subcommands with llama.cpp's flags: ``run`` (llama-cli's completion),
``chat`` (a conversation with the model's chat template) and the llama-server flags that
``serve`` translates to the server's own options."""
