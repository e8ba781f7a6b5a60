// llama.cpp's built-in chat templates (llama_chat_apply_template), the fallback
// when a model's Jinja template is missing or a named format is asked for.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace llama_pybind {

// (role, content) messages formatted with a built-in template, named (e.g. "chatml") or
// detected from a Jinja source; std::invalid_argument when llama.cpp knows no such template.
std::string apply_template(const std::string &tmpl, const std::vector<std::pair<std::string, std::string>> &messages,
                           bool add_assistant);

// Names of llama.cpp's built-in chat templates.
std::vector<std::string> builtin_templates();

}  // namespace llama_pybind
