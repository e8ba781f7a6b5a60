// The one place where failures become Python exceptions.
//
// Binding code throws these C++ types; errors.cpp translates each to the
// Python exception users expect:
//   file_not_found  -> FileNotFoundError (errno ENOENT, with the filename)
//   invalid_model   -> ValueError          (a file llama.cpp cannot load)
//   closed_object   -> ValueError          (use after close())
//   llama_error     -> llama_cpp.LlamaError (a RuntimeError: llama.cpp failed)
//   std::invalid_argument -> ValueError    (pybind11's own mapping)
#pragma once

#include <stdexcept>
#include <string>

namespace llama_pybind {

struct llama_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct invalid_model : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct closed_object : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct file_not_found : std::runtime_error {
    file_not_found(const std::string &message, std::string path)
        : std::runtime_error(message), path(std::move(path)) {}
    std::string path;
};

// `message`, followed by what llama.cpp logged (warnings and errors) since
// the log mark `since` (see log_capture.hpp): the cause, in llama.cpp's words.
std::string with_llama_log(const std::string &message, unsigned long long since);

}  // namespace llama_pybind
