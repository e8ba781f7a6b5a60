// LoRA area: adapters loaded for a model (engine/lora.hpp), applied to a
// context with Context.set_lora.
#include <memory>
#include <string>

#include "bindings.hpp"
#include "engine/handles.hpp"
#include "engine/lora.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {

void register_lora(py::module_ &m) {
    py::class_<LoraAdapter, std::shared_ptr<LoraAdapter>>(m, "LoraAdapter",
                                                          "A LoRA adapter (GGUF) loaded for a model.")
        .def(py::init([](const Model &model, const std::string &path) {
                 std::shared_ptr<model_owner> owner = model.owner();
                 py::gil_scoped_release release;
                 return load_lora(owner, path);
             }),
             py::arg("model"), py::arg("path"),
             "Load the adapter at `path` for `model` (FileNotFoundError / ValueError on failure).")
        .def_property_readonly("path", [](const LoraAdapter &a) { return a.path; })
        .def_property_readonly("metadata", [](const LoraAdapter &a) {
            py::dict meta;
            for (const auto &[key, value] : adapter_metadata(a)) {
                meta[py::str(key)] = value;
            }
            return meta;
        });
}

}  // namespace llama_pybind
