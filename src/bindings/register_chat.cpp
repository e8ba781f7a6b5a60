// Chat area: llama.cpp's built-in chat templates (engine/chat.hpp), the
// fallback when a model's Jinja template is missing or a named format is
// asked for.
#include "bindings.hpp"
#include "engine/chat.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {

void register_chat(py::module_ &m) {
    m.def("chat_apply_template", &apply_template, py::arg("template"), py::arg("messages"),
          py::arg("add_assistant") = true,
          "Format (role, content) messages with a llama.cpp built-in template, named (e.g. 'chatml') or "
          "detected from a Jinja source.");
    m.def("chat_builtin_templates", &builtin_templates, "Names of llama.cpp's built-in chat templates.");
}

}  // namespace llama_pybind
