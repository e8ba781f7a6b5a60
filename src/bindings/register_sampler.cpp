// Sampler area: Python bindings of SamplerChain (engine/sampler.hpp).
#include "bindings.hpp"
#include "engine/sampler.hpp"
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

namespace llama_pybind {

void register_sampler(py::module_ &m) {
    py::class_<SamplerChain, std::shared_ptr<SamplerChain>>(m, "SamplerChain",
                             "A llama.cpp sampler chain: samplers applied in the order they were added.")
        .def(py::init<>())
        .def("add_greedy", &SamplerChain::add_greedy, "Select the most likely token.")
        .def("add_dist", &SamplerChain::add_dist, py::arg("seed"),
             "Select a token at random from the distribution (seed 0xFFFFFFFF = random).")
        .def("add_top_k", &SamplerChain::add_top_k, py::arg("k"), "Keep the k most likely tokens (k <= 0: all).")
        .def("add_top_p", &SamplerChain::add_top_p, py::arg("p"), py::arg("min_keep") = 1)
        .def("add_min_p", &SamplerChain::add_min_p, py::arg("p"), py::arg("min_keep") = 1)
        .def("add_typical", &SamplerChain::add_typical, py::arg("p"), py::arg("min_keep") = 1)
        .def("add_temp", &SamplerChain::add_temp, py::arg("t"))
        .def("add_penalties", &SamplerChain::add_penalties, py::arg("n_vocab"), py::arg("last_n"),
             py::arg("repeat"), py::arg("frequency"), py::arg("presence"))
        .def("add_mirostat", &SamplerChain::add_mirostat, py::arg("n_vocab"), py::arg("seed"), py::arg("tau"),
             py::arg("eta"), py::arg("m") = 100)
        .def("add_mirostat_v2", &SamplerChain::add_mirostat_v2, py::arg("seed"), py::arg("tau"), py::arg("eta"))
        .def("add_logit_bias", &SamplerChain::add_logit_bias, py::arg("n_vocab"), py::arg("bias"))
        .def("add_grammar", &SamplerChain::add_grammar, py::arg("model"), py::arg("grammar"),
             py::arg("root") = "root", "Constrain output to a GBNF grammar (ValueError if it does not parse).")
        .def("sample",
             [](SamplerChain &s, py::array_t<float, py::array::c_style | py::array::forcecast> logits) {
                 require_arg(logits.ndim() == 1, "logits must be a 1-D array of n_vocab values");
                 return s.sample(logits.data(), static_cast<int32_t>(logits.shape(0)));
             },
             py::arg("logits"), "Apply the chain to a row of logits, accept the selected token and return it.")
        .def("accept", &SamplerChain::accept, py::arg("token"), "Tell the chain a token was emitted.")
        .def("reset", &SamplerChain::reset, "Forget the accepted tokens (penalties, grammar, mirostat state).")
        .def("names", &SamplerChain::names, "Names of the samplers in the chain, in order.")
        .def("prime", &SamplerChain::prime, py::arg("tokens"),
             "Feed earlier tokens (the prompt) to the penalty samplers only.")
        .def("perf",
             [](const SamplerChain &s) {
                 const llama_perf_sampler_data d = llama_perf_sampler(s.get());
                 py::dict out;
                 out["t_sample_ms"] = d.t_sample_ms + s.fast_sample_ms();
                 out["n_sample"] = d.n_sample;
                 return out;
             },
             "llama.cpp's sampling time (ms) and count.")
        .def("perf_reset",
             [](SamplerChain &s) {
                 llama_perf_sampler_reset(s.get());
                 s.reset_fast_perf();
             })
        .def_property_readonly("seed", &SamplerChain::seed)
        .def("__len__", &SamplerChain::size);
}

}  // namespace llama_pybind
