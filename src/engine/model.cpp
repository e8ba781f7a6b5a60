#include "model.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include "devices.hpp"
#include "errors.hpp"
#include "ggml-backend.h"
#include "log_capture.hpp"
#include "remote.hpp"

namespace llama_pybind {
namespace {

void check_model_file(const std::string &path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p = fs::u8path(path);
    const fs::file_status status = fs::status(p, ec);
    if (ec || !fs::exists(status)) {
        throw file_not_found("model file not found (relative paths start from the current directory)", path);
    }
    if (fs::is_directory(status)) {
        throw invalid_model("model path '" + path + "' is a directory; pass the path of a .gguf file");
    }
    if (fs::file_size(p, ec) == 0 && !ec) {
        throw invalid_model("model file '" + path + "' is empty (0 bytes): the download or copy did not complete");
    }
}

// The devices named (ggml device names, e.g. "Vulkan0", "RPC0"), as llama.cpp's
// NULL-terminated list; the RPC workers (host:port) among them go to `endpoints`.
std::vector<ggml_backend_dev_t> named_devices(const std::vector<std::string> &names,
                                              std::vector<std::string> *endpoints) {
    std::vector<ggml_backend_dev_t> devices;
    for (const std::string &name : names) {
        ggml_backend_dev_t dev = device_by_name(name);
        if (std::string(ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev))) == "RPC") {
            const std::string endpoint = ggml_backend_dev_description(dev);  // llama.cpp's choice
            if (std::find(endpoints->begin(), endpoints->end(), endpoint) == endpoints->end()) {
                endpoints->push_back(endpoint);
            }
        }
        devices.push_back(dev);
    }
    devices.push_back(nullptr);
    return devices;
}

}  // namespace

std::shared_ptr<Model> load_model(const std::string &path, int n_gpu_layers, bool use_mmap, bool use_mlock,
                                  bool vocab_only, int split_mode, int main_gpu, std::vector<float> tensor_split,
                                  const std::vector<llama_model_kv_override> &overrides,
                                  const std::optional<std::vector<std::string>> &devices) {
    check_model_file(path);
    llama_model_params params = llama_model_default_params();
    std::vector<std::string> endpoints;
    std::vector<ggml_backend_dev_t> device_list;
    if (devices.has_value()) {
        device_list = named_devices(*devices, &endpoints);
        params.devices = device_list.data();
    }
    params.n_gpu_layers = n_gpu_layers;
    if (split_mode < LLAMA_SPLIT_MODE_NONE || split_mode > LLAMA_SPLIT_MODE_ROW) {
        throw std::invalid_argument("split_mode must be 0 (none), 1 (layer) or 2 (row), got " +
                                    std::to_string(split_mode));
    }
    params.split_mode = static_cast<llama_split_mode>(split_mode);
    params.main_gpu = main_gpu;
    const size_t max_devices = llama_max_devices();
    if (tensor_split.size() > max_devices) {
        throw std::invalid_argument("tensor_split has " + std::to_string(tensor_split.size()) +
                                    " entries but this build supports at most " + std::to_string(max_devices) +
                                    " devices");
    }
    tensor_split.resize(max_devices, 0.0f);
    params.tensor_split = tensor_split.data();
    params.kv_overrides = overrides.empty() ? nullptr : overrides.data();
    if (use_mmap) {
        params.load_mode = use_mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_MMAP;
    } else {
        params.load_mode = use_mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE;
    }
    params.vocab_only = vocab_only;
    unsigned long long since = log_capture::mark();
    llama_model *model = nullptr;
    if (endpoints.empty()) {
        AbortAsException abort_as_exception;  // a failed check on a corrupt file: an error
        model = llama_model_load_from_file(path.c_str(), params);
    } else {
        // Weights go to the workers: on a helper thread (remote.hpp), with everything the
        // load reads owned by it in case it is abandoned.
        struct Load {
            std::string path;
            llama_model_params params;
            std::vector<float> tensor_split;
            std::vector<llama_model_kv_override> overrides;
            std::vector<ggml_backend_dev_t> devices;
            llama_model *model = nullptr;
        };
        auto load = std::make_shared<Load>(Load{path, params, tensor_split, overrides, device_list});
        load->params.tensor_split = load->tensor_split.data();
        load->params.kv_overrides = load->overrides.empty() ? nullptr : load->overrides.data();
        load->params.devices = load->devices.data();
        remote::run("loading the model", endpoints, [load]() {
            AbortAsException abort_as_exception;
            load->model = llama_model_load_from_file(load->path.c_str(), load->params);
            return int64_t{0};
        });
        model = load->model;
    }
    if (model == nullptr) {
        throw invalid_model(with_llama_log(
            "failed to load model from file '" + path +
                "': not a valid GGUF model this llama.cpp can read (corrupt, truncated, or an "
                "unsupported architecture)",
            since));
    }
    return std::make_shared<Model>(std::make_shared<model_owner>(model, endpoints), path);
}

std::vector<llama_token> tokenize(const Model &self, const std::string &text, bool add_special,
                                  bool parse_special) {
    const llama_vocab *vocab = self.vocab();
    std::vector<llama_token> tokens(text.size() + 4);
    int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                               static_cast<int32_t>(tokens.size()), add_special, parse_special);
    if (n < 0) {
        tokens.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), add_special, parse_special);
    }
    if (n < 0) {
        throw llama_error("tokenization failed for a text of " + std::to_string(text.size()) + " bytes");
    }
    tokens.resize(static_cast<size_t>(n));
    return tokens;
}

std::string detokenize(const llama_vocab *vocab, const std::vector<llama_token> &tokens, bool remove_special,
                       bool unparse_special) {
    for (llama_token t : tokens) {
        check_token(vocab, t);
    }
    std::string text;
    text.resize(tokens.size() * 8 + 16);
    int32_t n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                 static_cast<int32_t>(text.size()), remove_special, unparse_special);
    if (n < 0) {
        text.resize(static_cast<size_t>(-n));
        n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                             static_cast<int32_t>(text.size()), remove_special, unparse_special);
    }
    text.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return text;
}

std::string pieces(const llama_vocab *vocab, const std::vector<llama_token> &tokens, bool special) {
    for (llama_token t : tokens) {
        check_token(vocab, t);
    }
    std::string text;
    for (llama_token t : tokens) {
        text += token_piece(vocab, t, special);
    }
    return text;
}

std::vector<std::pair<std::string, std::string>> metadata(const Model &self) {
    llama_model *model = self.get();
    std::vector<std::pair<std::string, std::string>> meta;
    std::vector<char> key(256), value(4096);
    for (int32_t i = 0; i < llama_model_meta_count(model); ++i) {
        int32_t k = llama_model_meta_key_by_index(model, i, key.data(), key.size());
        int32_t v = llama_model_meta_val_str_by_index(model, i, value.data(), value.size());
        if (k < 0 || v < 0) {
            continue;
        }
        if (static_cast<size_t>(v) >= value.size()) {
            value.resize(static_cast<size_t>(v) + 1);
            v = llama_model_meta_val_str_by_index(model, i, value.data(), value.size());
        }
        meta.emplace_back(utf8_lossy(std::string(key.data())),
                          utf8_lossy(std::string(value.data(), static_cast<size_t>(v))));
    }
    return meta;
}

std::string model_desc(const Model &self) {
    char buf[256];
    int32_t n = llama_model_desc(self.get(), buf, sizeof buf);
    return utf8_lossy(std::string(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)));
}

}  // namespace llama_pybind
