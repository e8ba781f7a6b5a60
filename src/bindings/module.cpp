// llama_cpp._core: thin bindings over llama.cpp. Each area lives in its own
// register_*.cpp; this file only wires them together.
#include "bindings.hpp"

#include "llama.h"

PYBIND11_MODULE(_core, m) {
    using namespace llama_pybind;
    m.doc() = "Low-level bindings over the pinned llama.cpp (private: use the llama_cpp package).";
    m.attr("__version__") = LLAMA_PYBIND_VERSION;
    m.attr("LLAMA_CPP_COMMIT") = LLAMA_PYBIND_LLAMA_CPP_COMMIT;

    register_errors(m);
    register_log(m);  // before backend init, so llama.cpp's start-up log is captured too
    register_backend(m);
    register_model(m);
    register_context(m);
    register_sampler(m);
    register_generation(m);
    register_lora(m);
    register_chat(m);
    register_rpc(m);
}
