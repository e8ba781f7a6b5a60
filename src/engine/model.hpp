// The model area's engine: loading a GGUF file, metadata, and the vocabulary
// (tokenize / detokenize / token pieces). Plain C++: the bindings convert
// arguments and results, and release the GIL around these calls where it was
// released before (see bindings/register_model.cpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "handles.hpp"
#include "llama.h"

namespace llama_pybind {

// Load the GGUF model at `path` (file_not_found / invalid_model when it is missing or
// unreadable). `overrides`: llama.cpp's kv_overrides list, terminated by an entry with
// an empty key (or empty for none). `devices`: ggml device names to place layers on, in
// order (nullopt: llama.cpp's choice); on RPC workers' devices the model is loaded on a
// helper thread (remote.hpp).
std::shared_ptr<Model> load_model(const std::string &path, int n_gpu_layers, bool use_mmap, bool use_mlock,
                                  bool vocab_only, int split_mode, int main_gpu, std::vector<float> tensor_split,
                                  const std::vector<llama_model_kv_override> &overrides,
                                  const std::optional<std::vector<std::string>> &devices);

// Token ids of the UTF-8 `text`; add_special adds BOS/EOS as the model wants.
std::vector<llama_token> tokenize(const Model &self, const std::string &text, bool add_special,
                                  bool parse_special);

// The bytes the tokens stand for (llama_detokenize); ValueError for a token out of range.
std::string detokenize(const llama_vocab *vocab, const std::vector<llama_token> &tokens, bool remove_special,
                       bool unparse_special);

// The tokens' pieces one after another (llama_token_to_piece, no space removed): what
// llama-cpp-python's detokenize builds on, and what joining token-by-token output gives.
std::string pieces(const llama_vocab *vocab, const std::vector<llama_token> &tokens, bool special);

// The model's GGUF metadata as (key, value) text, in the file's order.
std::vector<std::pair<std::string, std::string>> metadata(const Model &self);

// llama.cpp's one-line description of the model.
std::string model_desc(const Model &self);

}  // namespace llama_pybind
