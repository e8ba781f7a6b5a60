// Shared declarations for the llama_cpp._core extension: one register_*
// function per binding area, called from module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace llama_pybind {

namespace py = pybind11;

void register_errors(py::module_ &m);
void register_log(py::module_ &m);
void register_backend(py::module_ &m);
void register_model(py::module_ &m);
void register_context(py::module_ &m);
void register_sampler(py::module_ &m);
void register_generation(py::module_ &m);
void register_lora(py::module_ &m);
void register_chat(py::module_ &m);
void register_rpc(py::module_ &m);

}  // namespace llama_pybind
