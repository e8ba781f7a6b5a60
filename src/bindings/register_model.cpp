// Model area: loading a GGUF file, metadata, and the vocabulary
// (tokenize / detokenize / token pieces); the work is in engine/model.cpp.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "engine/errors.hpp"
#include "engine/handles.hpp"
#include "engine/model.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

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

std::shared_ptr<Model> load(const std::string &path, int n_gpu_layers, bool use_mmap, bool use_mlock,
                            bool vocab_only, int split_mode, int main_gpu, std::vector<float> tensor_split,
                            const py::dict &kv_overrides, const std::optional<std::vector<std::string>> &devices) {
    const std::vector<llama_model_kv_override> overrides = make_overrides(kv_overrides);
    py::gil_scoped_release release;
    return load_model(path, n_gpu_layers, use_mmap, use_mlock, vocab_only, split_mode, main_gpu,
                      std::move(tensor_split), overrides, devices);
}

py::dict metadata_dict(const Model &self) {
    py::dict meta;
    for (const auto &[key, value] : metadata(self)) {
        meta[py::str(key)] = value;
    }
    return meta;
}

}  // namespace

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
        .def(py::init(&load), py::arg("path"), py::arg("n_gpu_layers") = 0, py::arg("use_mmap") = true,
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
        .def_property_readonly("metadata", &metadata_dict)
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
        .def("detokenize",
             [](const Model &s, const std::vector<llama_token> &tokens, bool remove_special, bool unparse_special) {
                 const llama_vocab *vocab = s.vocab();
                 std::string text;
                 {
                     py::gil_scoped_release release;
                     text = detokenize(vocab, tokens, remove_special, unparse_special);
                 }
                 return py::bytes(text);
             },
             py::arg("tokens"), py::arg("remove_special") = false, py::arg("unparse_special") = false,
             "The bytes the tokens stand for (llama_detokenize).")
        .def("pieces",
             [](const Model &s, const std::vector<llama_token> &tokens, bool special) {
                 const llama_vocab *vocab = s.vocab();
                 std::string text;
                 {
                     py::gil_scoped_release release;
                     text = pieces(vocab, tokens, special);
                 }
                 return py::bytes(text);
             },
             py::arg("tokens"), py::arg("special") = false,
             "The tokens' pieces joined, no space removed (special: render control tokens).")
        .def("is_eog", [](const Model &s, llama_token token) { return llama_vocab_is_eog(s.vocab(), token); },
             py::arg("token"), "Whether `token` ends generation (EOS, EOT, ...).")
        .def("__repr__", [](const Model &s) {
            return "<llama_cpp._core.Model '" + s.path() + "'" + (s.closed() ? " closed>" : ">");
        });
}

}  // namespace llama_pybind
