#include "chat.hpp"

#include <cstdint>
#include <stdexcept>

#include "llama.h"

namespace llama_pybind {

std::string apply_template(const std::string &tmpl, const std::vector<std::pair<std::string, std::string>> &messages,
                           bool add_assistant) {
    std::vector<llama_chat_message> chat;
    chat.reserve(messages.size());
    size_t total = 0;
    for (const auto &[role, content] : messages) {
        chat.push_back({role.c_str(), content.c_str()});
        total += role.size() + content.size();
    }
    std::string out(total * 2 + 256, '\0');
    int32_t n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, out.data(),
                                          static_cast<int32_t>(out.size()));
    if (n > static_cast<int32_t>(out.size())) {
        out.resize(static_cast<size_t>(n));
        n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, out.data(),
                                      static_cast<int32_t>(out.size()));
    }
    if (n < 0) {
        throw std::invalid_argument("llama.cpp does not know the chat template '" +
                                    (tmpl.size() > 60 ? tmpl.substr(0, 60) + "..." : tmpl) +
                                    "'; use one of chat_builtin_templates()");
    }
    out.resize(static_cast<size_t>(n));
    return out;
}

std::vector<std::string> builtin_templates() {
    const int32_t n = llama_chat_builtin_templates(nullptr, 0);
    std::vector<const char *> names(static_cast<size_t>(n > 0 ? n : 0));
    llama_chat_builtin_templates(names.data(), names.size());
    return {names.begin(), names.end()};
}

}  // namespace llama_pybind
