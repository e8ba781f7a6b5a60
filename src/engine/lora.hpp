// LoRA adapters loaded for a model (llama_adapter_lora_*), applied to a context
// with set_lora (context.hpp). Plain C++: the bindings convert and release the GIL.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "handles.hpp"

namespace llama_pybind {

// Load the adapter at `path` for the model `owner` holds (file_not_found, or
// std::invalid_argument when it is not a LoRA adapter for this model).
std::shared_ptr<LoraAdapter> load_lora(const std::shared_ptr<model_owner> &owner, const std::string &path);

// The adapter's GGUF metadata as (key, value), in the file's order.
std::vector<std::pair<std::string, std::string>> adapter_metadata(const LoraAdapter &a);

}  // namespace llama_pybind
