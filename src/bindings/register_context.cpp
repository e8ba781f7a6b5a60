// Context area: a llama_context over a model (engine/context.hpp). Decoding into
// sequences, their KV memory (truncate, copy, keep, shift), per-sequence state
// save/load, embeddings, LoRA adapters and perf counters.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "engine/context.hpp"
#include "engine/errors.hpp"
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

template <typename T, typename Field>
void enum_field(py::class_<llama_context_params> &cls, const char *name, Field field) {
    cls.def_property(
        name, [field](const llama_context_params &p) { return static_cast<int>(p.*field); },
        [field](llama_context_params &p, int v) { p.*field = static_cast<T>(v); });
}

void register_context_params(py::module_ &m) {
    py::class_<llama_context_params> cls(m, "ContextParams",
                                         "llama_context_params: what a Context is created with (llama.cpp's names).");
    cls.def(py::init([]() { return llama_context_default_params(); }), "llama.cpp's defaults.")
        .def_readwrite("n_ctx", &llama_context_params::n_ctx)
        .def_readwrite("n_batch", &llama_context_params::n_batch)
        .def_readwrite("n_ubatch", &llama_context_params::n_ubatch)
        .def_readwrite("n_seq_max", &llama_context_params::n_seq_max)
        .def_readwrite("n_threads", &llama_context_params::n_threads)
        .def_readwrite("n_threads_batch", &llama_context_params::n_threads_batch)
        .def_readwrite("rope_freq_base", &llama_context_params::rope_freq_base)
        .def_readwrite("rope_freq_scale", &llama_context_params::rope_freq_scale)
        .def_readwrite("yarn_ext_factor", &llama_context_params::yarn_ext_factor)
        .def_readwrite("yarn_attn_factor", &llama_context_params::yarn_attn_factor)
        .def_readwrite("yarn_beta_fast", &llama_context_params::yarn_beta_fast)
        .def_readwrite("yarn_beta_slow", &llama_context_params::yarn_beta_slow)
        .def_readwrite("yarn_orig_ctx", &llama_context_params::yarn_orig_ctx)
        .def_readwrite("embeddings", &llama_context_params::embeddings)
        .def_readwrite("offload_kqv", &llama_context_params::offload_kqv)
        .def_readwrite("no_perf", &llama_context_params::no_perf)
        .def_readwrite("op_offload", &llama_context_params::op_offload)
        .def_readwrite("swa_full", &llama_context_params::swa_full)
        .def_readwrite("kv_unified", &llama_context_params::kv_unified);
    enum_field<llama_rope_scaling_type>(cls, "rope_scaling_type", &llama_context_params::rope_scaling_type);
    enum_field<enum llama_pooling_type>(cls, "pooling_type", &llama_context_params::pooling_type);
    enum_field<llama_attention_type>(cls, "attention_type", &llama_context_params::attention_type);
    enum_field<llama_flash_attn_type>(cls, "flash_attn_type", &llama_context_params::flash_attn_type);
    enum_field<ggml_type>(cls, "type_k", &llama_context_params::type_k);
    enum_field<ggml_type>(cls, "type_v", &llama_context_params::type_v);
}

// float32 array of `shape` holding `values` (copied).
py::array_t<float> to_array(const std::vector<float> &values, std::vector<py::ssize_t> shape) {
    py::array_t<float> out(std::move(shape));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::object decode_tokens(Context &self, const std::vector<llama_token> &tokens, int32_t seq, bool all_logits) {
    const FloatRows all = decode(self, tokens, seq, all_logits);
    if (!all_logits) {
        return py::none();
    }
    return to_array(all.values, {static_cast<py::ssize_t>(all.n_rows), static_cast<py::ssize_t>(all.n_cols)});
}

py::list embeddings_list(Context &self, const std::vector<std::vector<llama_token>> &inputs) {
    const Embeddings embeddings = embed_many(self, inputs);
    const auto n_embd = static_cast<py::ssize_t>(embeddings.n_embd);
    py::list result;
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (embeddings.pooled) {
            result.append(to_array(embeddings.values[i], {n_embd}));
        } else {
            result.append(to_array(embeddings.values[i], {static_cast<py::ssize_t>(inputs[i].size()), n_embd}));
        }
    }
    return result;
}

py::dict perf_dict(Context &self) {
    const llama_perf_context_data d = perf(self);
    py::dict out;
    out["t_load_ms"] = d.t_load_ms;
    out["t_p_eval_ms"] = d.t_p_eval_ms;
    out["t_eval_ms"] = d.t_eval_ms;
    out["n_p_eval"] = d.n_p_eval;
    out["n_eval"] = d.n_eval;
    out["n_reused"] = d.n_reused;
    return out;
}

}  // namespace

// The llama_context pointer as an int, for ctypes (ValueError once closed).
static std::uintptr_t context_pointer(const Context &s) {
    if (s.closed()) {
        throw closed_object("this context is closed (close() was called), so llama.cpp "
                            "functions cannot use it; create a new context (or Llama)");
    }
    return reinterpret_cast<std::uintptr_t>(s.get());
}

void register_context(py::module_ &m) {
    register_context_params(m);
    py::class_<Context, std::shared_ptr<Context>>(m, "Context",
                                                  "A llama.cpp context (llama_context): the KV cache and compute state.")
        .def(py::init(&make_context), py::arg("model"), py::arg("n_ctx") = 512, py::arg("n_batch") = 512,
             py::arg("n_ubatch") = 0, py::arg("n_threads") = 0, py::arg("n_threads_batch") = 0,
             py::arg("embeddings") = false, py::arg("n_seq_max") = 1,
             "Create a context over `model` (n_threads 0 = one per hardware thread).")
        .def_static("from_params", &context_from_params, py::arg("model"), py::arg("params"),
                    "Create a context from a full ContextParams.")
        .def("decode", &decode_tokens, py::arg("tokens"), py::arg("seq_id") = 0, py::arg("all_logits") = false,
             "Evaluate `tokens` after those already in sequence `seq_id`. Returns None, or with all_logits "
             "a float32 array of shape (len(tokens), n_vocab).")
        .def("logits",
             [](Context &s) {
                 const std::vector<float> logits = last_logits(s);
                 return to_array(logits, {static_cast<py::ssize_t>(logits.size())});
             },
             "Logits of the last decoded token: a float32 array of n_vocab values.")
        .def("clear", &clear, "Forget all decoded tokens of every sequence (clears the KV cache).")
        .def("seq_clear", &seq_clear, py::arg("seq_id"), "Forget the tokens of one sequence.")
        .def("truncate", &truncate, py::arg("seq_id"), py::arg("keep"),
             "Keep the first `keep` tokens of a sequence, forget the rest.")
        .def("reuse_prefix", &reuse_prefix, py::arg("seq_id"), py::arg("tokens"),
             "Keep the longest prefix shared with `tokens` (at most len(tokens) - 1), forget the rest, "
             "and return its length: only tokens[n:] need decoding.")
        .def("seq_cp", &seq_cp, py::arg("src"), py::arg("dst"), "Make sequence `dst` a copy of `src`.")
        .def("seq_keep", &seq_keep, py::arg("seq_id"), "Forget every sequence but this one.")
        .def("shift", &shift, py::arg("seq_id"), py::arg("n_keep"), py::arg("n_discard"),
             "Forget n_discard tokens after the first n_keep and move the rest back (context shift).")
        .def("tokens", &sequence_tokens, py::arg("seq_id") = 0, "The tokens decoded into a sequence.")
        .def("seq_state", [](Context &s, int32_t seq) { return py::bytes(seq_state(s, seq)); },
             py::arg("seq_id") = 0, "The KV state of one sequence, as bytes.")
        .def("set_seq_state", &set_seq_state, py::arg("seq_id"), py::arg("data"), py::arg("tokens"),
             "Restore a sequence from seq_state() bytes and the tokens it holds.")
        .def("embed_many", &embeddings_list, py::arg("inputs"),
             "Embeddings of several token lists, packed into as few decodes as fit (n_seq_max inputs "
             "and n_batch tokens per decode): per input a pooled vector, or (n_tokens, n_embd) when the "
             "context does not pool.")
        .def("set_lora", &set_lora, py::arg("adapters"), py::arg("scales"), "Use these LoRA adapters.")
        .def("perf", &perf_dict, "llama.cpp's timing counters (ms) and token counts.")
        .def("perf_reset", &perf_reset, "Reset the timing counters.")
        .def("check_prompt_fits", &Context::check_prompt_fits, py::arg("n_tokens"),
             py::arg("holder") = Context::kPromptHolder, py::arg("advice") = Context::kPromptAdvice,
             "Raise ValueError unless a prompt of `n_tokens` tokens leaves room to generate in one "
             "sequence (n_tokens < n_ctx_seq): \"Requested tokens (N) exceed context window of M: the "
             "prompt has N tokens and <holder> holds M; shorten the prompt or <advice>\".")
        .def("close", &Context::close, "Free the context.")
        .def_property_readonly("closed", &Context::closed)
        .def_property_readonly(
            "_as_parameter_", &context_pointer,
            "The llama_context pointer as an int, for ctypes: llama_cpp.llama_cpp functions take "
            "the context itself (ValueError once it is closed).")
        .def_property_readonly("ctx", &context_pointer,
                               "The llama_context pointer as an int (llama-cpp-python's Llama._ctx.ctx).")
        .def_property_readonly("params", [](Context &s) { s.get(); return s.params(); },
                               "The ContextParams in effect (n_ctx as llama.cpp rounded it).")
        .def_property_readonly("n_ctx", [](Context &s) { return llama_n_ctx(s.get()); })
        .def_property_readonly("n_ctx_seq", [](Context &s) { return llama_n_ctx_seq(s.get()); },
                               "Positions one sequence can hold (n_ctx, or its share when sequences do not "
                               "share one KV buffer).")
        .def_property_readonly("n_batch", [](Context &s) { return llama_n_batch(s.get()); })
        .def_property_readonly("n_seq_max", [](Context &s) { return llama_n_seq_max(s.get()); })
        .def_property_readonly("pooling_type", [](Context &s) { return static_cast<int>(llama_pooling_type(s.get())); })
        .def_property_readonly("n_past", &n_past);
}

}  // namespace llama_pybind
