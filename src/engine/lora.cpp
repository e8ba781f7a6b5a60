#include "lora.hpp"

#include <algorithm>
#include <filesystem>

#include "errors.hpp"
#include "log_capture.hpp"

namespace llama_pybind {

std::shared_ptr<LoraAdapter> load_lora(const std::shared_ptr<model_owner> &owner, const std::string &path) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::u8path(path), ec)) {
        throw file_not_found("LoRA adapter file not found", path);
    }
    unsigned long long since = log_capture::mark();
    llama_adapter_lora *adapter = llama_adapter_lora_init(owner->model, path.c_str());
    if (adapter == nullptr) {
        throw std::invalid_argument(with_llama_log(
            "failed to load LoRA adapter '" + path + "': not a GGUF LoRA adapter made for this model", since));
    }
    return std::make_shared<LoraAdapter>(owner, adapter, path);
}

std::vector<std::pair<std::string, std::string>> adapter_metadata(const LoraAdapter &a) {
    std::vector<std::pair<std::string, std::string>> meta;
    std::vector<char> key(256), value(4096);
    for (int32_t i = 0; i < llama_adapter_meta_count(a.adapter); ++i) {
        const int32_t k = llama_adapter_meta_key_by_index(a.adapter, i, key.data(), key.size());
        const int32_t v = llama_adapter_meta_val_str_by_index(a.adapter, i, value.data(), value.size());
        if (k >= 0 && v >= 0) {
            meta.emplace_back(key.data(), std::string(value.data(), std::min<size_t>(static_cast<size_t>(v), value.size() - 1)));
        }
    }
    return meta;
}

}  // namespace llama_pybind
