// Model area: loading a GGUF file, metadata, and the vocabulary
// (tokenize / detokenize / token pieces).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "errors.hpp"
#include "devices.hpp"
#include "ggml-backend.h"
#include "handles.hpp"
#include "log_capture.hpp"
#include <pybind11/stl.h>

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

// kv_overrides values: bool, int, float or str (llama_model_kv_override).
std::vector<llama_model_kv_override> make_overrides(const py::dict &overrides) {
    std::vector<llama_model_kv_override> out;
    for (const auto &[k, v] : overrides) {
        const std::string key = py::str(k);
        if (key.empty() || key.size() >= sizeof(llama_model_kv_override{}.key)) {
            throw std::invalid_argument("kv_overrides key '" + key + "' must be 1-127 characters");
        }
        llama_model_kv_override o{};
        std::snprintf(o.key, sizeof o.key, "%s", key.c_str());
        if (py::isinstance<py::bool_>(v)) {
            o.tag = LLAMA_KV_OVERRIDE_TYPE_BOOL;
            o.val_bool = v.cast<bool>();
        } else if (py::isinstance<py::int_>(v)) {
            o.tag = LLAMA_KV_OVERRIDE_TYPE_INT;
            o.val_i64 = v.cast<int64_t>();
        } else if (py::isinstance<py::float_>(v)) {
            o.tag = LLAMA_KV_OVERRIDE_TYPE_FLOAT;
            o.val_f64 = v.cast<double>();
        } else if (py::isinstance<py::str>(v)) {
            const std::string text = v.cast<std::string>();
            if (text.size() >= sizeof o.val_str) {
                throw std::invalid_argument("kv_overrides['" + key + "']: strings are limited to 127 bytes");
            }
            o.tag = LLAMA_KV_OVERRIDE_TYPE_STR;
            std::snprintf(o.val_str, sizeof o.val_str, "%s", text.c_str());
        } else {
            throw std::invalid_argument("kv_overrides['" + key + "'] must be a bool, int, float or str, got " +
                                        std::string(py::str(py::type::of(v).attr("__name__"))));
        }
        out.push_back(o);
    }
    if (!out.empty()) {
        out.push_back(llama_model_kv_override{});  // terminator: empty key
    }
    return out;
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

std::shared_ptr<Model> load_model(const std::string &path, int n_gpu_layers, bool use_mmap, bool use_mlock,
                                  bool vocab_only, int split_mode, int main_gpu, std::vector<float> tensor_split,
                                  const py::dict &kv_overrides, const std::optional<std::vector<std::string>> &devices) {
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
    const std::vector<llama_model_kv_override> overrides = make_overrides(kv_overrides);
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
        py::gil_scoped_release release;
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
        py::gil_scoped_release release;
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

py::bytes detokenize(const Model &self, const std::vector<llama_token> &tokens, bool remove_special,
                     bool unparse_special) {
    const llama_vocab *vocab = self.vocab();
    for (llama_token t : tokens) {
        check_token(vocab, t);
    }
    std::string text;
    {
        py::gil_scoped_release release;
        text.resize(tokens.size() * 8 + 16);
        int32_t n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                     static_cast<int32_t>(text.size()), remove_special, unparse_special);
        if (n < 0) {
            text.resize(static_cast<size_t>(-n));
            n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                 static_cast<int32_t>(text.size()), remove_special, unparse_special);
        }
        text.resize(n < 0 ? 0 : static_cast<size_t>(n));
    }
    return py::bytes(text);
}

// The tokens' pieces one after another (llama_token_to_piece, no space removed): what
// llama-cpp-python's detokenize builds on, and what joining token-by-token output gives.
py::bytes pieces(const Model &self, const std::vector<llama_token> &tokens, bool special) {
    const llama_vocab *vocab = self.vocab();
    for (llama_token t : tokens) {
        check_token(vocab, t);
    }
    std::string text;
    {
        py::gil_scoped_release release;
        for (llama_token t : tokens) {
            text += token_piece(vocab, t, special);
        }
    }
    return py::bytes(text);
}

py::dict metadata(const Model &self) {
    llama_model *model = self.get();
    py::dict meta;
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
        meta[py::str(utf8_lossy(std::string(key.data())))] =
            utf8_lossy(std::string(value.data(), static_cast<size_t>(v)));
    }
    return meta;
}

std::string model_desc(const Model &self) {
    char buf[256];
    int32_t n = llama_model_desc(self.get(), buf, sizeof buf);
    return utf8_lossy(std::string(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)));
}

}  // namespace

std::string token_piece(const llama_vocab *vocab, llama_token token, bool special) {
    check_token(vocab, token);
    std::string piece(32, '\0');
    int32_t n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
    if (n < 0) {
        piece.resize(static_cast<size_t>(-n));
        n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
    }
    piece.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return piece;
}

void check_token(const llama_vocab *vocab, llama_token token) {
    int32_t n_vocab = llama_vocab_n_tokens(vocab);
    if (token < 0 || token >= n_vocab) {
        throw std::invalid_argument("token id " + std::to_string(token) + " is out of range: this model's vocabulary has " +
                                    std::to_string(n_vocab) + " tokens (valid ids 0.." + std::to_string(n_vocab - 1) + ")");
    }
}

// The llama_model pointer as an int, for ctypes (ValueError once closed).
static std::uintptr_t model_pointer(const Model &s) {
    if (s.closed()) {
        throw closed_object("this model is closed (close() was called), so llama.cpp functions "
                            "cannot use it; load the model again");
    }
    return reinterpret_cast<std::uintptr_t>(s.get());
}

void register_model(py::module_ &m) {
    py::class_<Model, std::shared_ptr<Model>>(m, "Model", "A GGUF model loaded by llama.cpp (llama_model).")
        .def(py::init(&load_model), py::arg("path"), py::arg("n_gpu_layers") = 0, py::arg("use_mmap") = true,
             py::arg("use_mlock") = false, py::arg("vocab_only") = false, py::arg("split_mode") = 1,
             py::arg("main_gpu") = 0, py::arg("tensor_split") = std::vector<float>{},
             py::arg("kv_overrides") = py::dict(), py::arg("devices") = py::none(),
             "Load the GGUF model at `path` (FileNotFoundError if missing, ValueError if unreadable). "
             "`devices`: ggml device names to place layers on, in order (None: llama.cpp's choice).")
        .def_property_readonly(
            "remote", [](const Model &s) { return s.owner()->remote; },
            "Whether the model was placed on RPC workers' devices.")
        .def_property_readonly("path", &Model::path)
        .def_property_readonly("closed", &Model::closed)
        .def_property_readonly(
            "_as_parameter_", &model_pointer,
            "The llama_model pointer as an int, for ctypes: llama_cpp.llama_cpp functions take the "
            "model itself (ValueError once it is closed).")
        .def_property_readonly("model", &model_pointer,
                               "The llama_model pointer as an int (llama-cpp-python's Llama._model.model).")
        .def_property_readonly(
            "vocab", [](const Model &s) { model_pointer(s); return reinterpret_cast<std::uintptr_t>(s.vocab()); },
            "The llama_vocab pointer as an int (llama-cpp-python's Llama._model.vocab).")
        .def("close", &Model::close, "Release the model (freed once no context uses it).")
        .def_property_readonly("n_vocab", [](const Model &s) { return llama_vocab_n_tokens(s.vocab()); })
        .def_property_readonly("n_ctx_train", [](const Model &s) { return llama_model_n_ctx_train(s.get()); })
        .def_property_readonly("n_embd", [](const Model &s) { return llama_model_n_embd(s.get()); })
        .def_property_readonly("n_layer", [](const Model &s) { return llama_model_n_layer(s.get()); })
        .def_property_readonly("n_params", [](const Model &s) { return llama_model_n_params(s.get()); })
        .def_property_readonly("size", [](const Model &s) { return llama_model_size(s.get()); })
        .def_property_readonly("desc", &model_desc)
        .def_property_readonly("metadata", &metadata)
        .def_property_readonly("chat_template",
                               [](const Model &s) -> py::object {
                                   const char *t = llama_model_chat_template(s.get(), nullptr);
                                   return t ? py::object(py::str(utf8_lossy(t))) : py::object(py::none());
                               })
        .def_property_readonly("token_bos", [](const Model &s) { return llama_vocab_bos(s.vocab()); })
        .def_property_readonly("token_eos", [](const Model &s) { return llama_vocab_eos(s.vocab()); })
        .def_property_readonly("token_eot", [](const Model &s) { return llama_vocab_eot(s.vocab()); })
        .def_property_readonly("token_nl", [](const Model &s) { return llama_vocab_nl(s.vocab()); })
        .def_property_readonly("token_fim_pre", [](const Model &s) { return llama_vocab_fim_pre(s.vocab()); })
        .def_property_readonly("token_fim_suf", [](const Model &s) { return llama_vocab_fim_suf(s.vocab()); })
        .def_property_readonly("token_fim_mid", [](const Model &s) { return llama_vocab_fim_mid(s.vocab()); })
        .def_property_readonly("add_bos", [](const Model &s) { return llama_vocab_get_add_bos(s.vocab()); })
        .def_property_readonly("add_eos", [](const Model &s) { return llama_vocab_get_add_eos(s.vocab()); })
        .def("tokenize", &tokenize, py::arg("text"), py::arg("add_special") = true, py::arg("parse_special") = false,
             py::call_guard<py::gil_scoped_release>(),
             "Token ids of the UTF-8 `text` (bytes or str); add_special adds BOS/EOS as the model wants.")
        .def("token_to_piece",
             [](const Model &s, llama_token token, bool special) {
                 return py::bytes(token_piece(s.vocab(), token, special));
             },
             py::arg("token"), py::arg("special") = false, "The bytes of one token.")
        .def("detokenize", &detokenize, py::arg("tokens"), py::arg("remove_special") = false,
             py::arg("unparse_special") = false, "The bytes the tokens stand for (llama_detokenize).")
        .def("pieces", &pieces, py::arg("tokens"), py::arg("special") = false,
             "The tokens' pieces joined, no space removed (special: render control tokens).")
        .def("is_eog", [](const Model &s, llama_token token) { return llama_vocab_is_eog(s.vocab(), token); },
             py::arg("token"), "Whether `token` ends generation (EOS, EOT, ...).")
        .def("__repr__", [](const Model &s) {
            return "<llama_cpp._core.Model '" + s.path() + "'" + (s.closed() ? " closed>" : ">");
        });
}

}  // namespace llama_pybind
