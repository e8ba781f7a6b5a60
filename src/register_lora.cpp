// LoRA area: adapters loaded for a model (llama_adapter_lora_*), applied to a
// context with Context.set_lora.
#include <filesystem>
#include <memory>
#include <string>

#include "bindings.hpp"
#include "handles.hpp"
#include "log_capture.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

std::shared_ptr<LoraAdapter> load_lora(const Model &model, const std::string &path) {
    std::shared_ptr<model_owner> owner = model.owner();
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::u8path(path), ec)) {
        throw file_not_found("LoRA adapter file not found", path);
    }
    unsigned long long since = log_capture::mark();
    llama_adapter_lora *adapter = nullptr;
    {
        py::gil_scoped_release release;
        adapter = llama_adapter_lora_init(owner->model, path.c_str());
    }
    if (adapter == nullptr) {
        throw std::invalid_argument(with_llama_log(
            "failed to load LoRA adapter '" + path + "': not a GGUF LoRA adapter made for this model", since));
    }
    return std::make_shared<LoraAdapter>(owner, adapter, path);
}

py::dict adapter_metadata(const LoraAdapter &a) {
    py::dict meta;
    std::vector<char> key(256), value(4096);
    for (int32_t i = 0; i < llama_adapter_meta_count(a.adapter); ++i) {
        const int32_t k = llama_adapter_meta_key_by_index(a.adapter, i, key.data(), key.size());
        const int32_t v = llama_adapter_meta_val_str_by_index(a.adapter, i, value.data(), value.size());
        if (k >= 0 && v >= 0) {
            meta[py::str(key.data())] = std::string(value.data(), std::min<size_t>(static_cast<size_t>(v), value.size() - 1));
        }
    }
    return meta;
}

}  // namespace

void register_lora(py::module_ &m) {
    py::class_<LoraAdapter, std::shared_ptr<LoraAdapter>>(m, "LoraAdapter",
                                                          "A LoRA adapter (GGUF) loaded for a model.")
        .def(py::init(&load_lora), py::arg("model"), py::arg("path"),
             "Load the adapter at `path` for `model` (FileNotFoundError / ValueError on failure).")
        .def_property_readonly("path", [](const LoraAdapter &a) { return a.path; })
        .def_property_readonly("metadata", &adapter_metadata);
}

}  // namespace llama_pybind
