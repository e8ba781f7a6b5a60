// Generation area: the token loop in C++ (engine/generation.hpp), bound to
// Python. next() and run() drive one Generation; step() advances several on
// one Context with a single decode; each chunk of output becomes a
// (text bytes, tokens, logprobs) tuple here.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "engine/generation.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

py::object chunk_to_python(Chunk &&chunk) {
    py::object logprobs = py::none();
    if (!chunk.logprobs.empty()) {
        py::list entries;
        for (const TokenLogprob &e : chunk.logprobs) {
            py::list top;
            for (const auto &[t, lp] : e.top) {
                top.append(py::make_tuple(t, lp));
            }
            entries.append(py::make_tuple(e.token, e.logprob, top));
        }
        logprobs = entries;
    }
    return py::make_tuple(py::bytes(chunk.text), py::cast(chunk.tokens), logprobs);
}

py::object drive_to_python(Generation &g, bool to_end) {
    std::optional<Chunk> chunk = drive(g, to_end);
    if (!chunk) {
        return py::none();
    }
    return chunk_to_python(std::move(*chunk));
}

}  // namespace

void register_generation(py::module_ &m) {
    py::class_<Generation, std::shared_ptr<Generation>>(
        m, "Generation",
        "One sequence being generated on a Context: decode, sample, detokenize and stop-string checks in C++.")
        .def(py::init([](std::shared_ptr<Context> context, std::shared_ptr<SamplerChain> sampler, int32_t seq_id,
                         std::vector<llama_token> tokens, int64_t max_tokens, std::vector<std::string> stop,
                         int32_t logprobs, bool check_signals, py::object logits_processor,
                         py::object stopping_criteria, int32_t draft_ngram_max, int32_t draft_n,
                         py::object draft_model) {
                 if (!context) {
                     throw std::invalid_argument("context must not be None");
                 }
                 auto g = std::make_shared<Generation>(std::move(context), std::move(sampler), seq_id,
                                                       std::move(tokens), max_tokens, std::move(stop), logprobs,
                                                       check_signals);
                 g->set_hooks(std::move(logits_processor), std::move(stopping_criteria));
                 g->set_draft(draft_ngram_max, draft_n, std::move(draft_model));
                 return g;
             }),
             py::arg("context"), py::arg("sampler"), py::arg("seq_id"), py::arg("tokens"), py::kw_only(),
             py::arg("max_tokens"), py::arg("stop") = std::vector<std::string>{}, py::arg("logprobs") = -1,
             py::arg("check_signals") = false, py::arg("logits_processor") = py::none(),
             py::arg("stopping_criteria") = py::none(), py::arg("draft_ngram_max") = 2, py::arg("draft_n") = 0,
             py::arg("draft_model") = py::none(),
             "Generate in sequence `seq_id` after decoding `tokens` (the part of the prompt not yet in the "
             "sequence); every later argument is keyword-only. max_tokens <= 0 means until the context is "
             "full; logprobs: -1 = none, else the sampled token's log-probability plus that many top "
             "alternatives. logits_processor(input_ids, scores) -> scores and stopping_criteria(input_ids, "
             "scores) -> bool are called per token. Speculative decoding: draft_n > 0 guesses that many tokens "
             "by prompt lookup (n-grams up to draft_ngram_max); or draft_model(input_ids) -> token ids guesses "
             "them (Python, per step). ValueError if the prompt leaves no room to generate "
             "(Context.check_prompt_fits).")
        .def("next", [](Generation &g) { return drive_to_python(g, false); },
             "Run until some text can be emitted (or the end): (text bytes, tokens, logprobs), or None "
             "once finished.")
        .def("run", [](Generation &g) { return drive_to_python(g, true); },
             "Run to the end: (text bytes, tokens, logprobs) of everything not yet returned.")
        .def("cancel", &Generation::cancel, "Stop this generation (finish_reason 'cancelled').")
        .def("take", [](Generation &g) { return chunk_to_python(take_output(g)); },
             "Output produced by step() and not yet taken: (text bytes, tokens, logprobs).")
        .def_property_readonly("finished", &Generation::finished)
        .def_property_readonly("error", &Generation::error,
                               "The exception a Python callback (logits processor, stopping criteria, draft "
                               "model) raised, which ended this generation; None if none did.")
        .def_property_readonly("finish_reason", &Generation::finish_reason,
                               "None while running; 'stop' (EOS or a stop string), 'length' or 'cancelled'.")
        .def_property_readonly("matched_stop", &Generation::matched_stop, "The stop string that ended it, if any.")
        .def_property_readonly("n_generated", &Generation::n_generated, "Tokens sampled so far (EOS excluded).")
        .def_property_readonly("n_decoded", &Generation::n_decoded,
                               "Tokens decoded by this generation (drafted ones included).")
        .def_property_readonly("n_drafted", &Generation::n_drafted, "Draft tokens decoded (speculative decoding).")
        .def_property_readonly("n_draft_accepted", &Generation::n_draft_accepted,
                               "Draft tokens accepted: each saved one decode step.")
        .def_property_readonly("seq_id", &Generation::seq);

    m.def("step", &step, py::arg("context"), py::arg("generations"),
          "Advance several generations on one context with a single decode (continuous batching); "
          "read each one's output with take(). A generation whose Python callback raised is "
          "finished ('cancelled') and holds the exception in .error; the others go on.");
}

}  // namespace llama_pybind
