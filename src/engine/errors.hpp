// The one place where failures become Python exceptions.
//
// Engine code throws these C++ types; bindings/register_errors.cpp translates
// each to the Python exception users expect:
//   file_not_found  -> FileNotFoundError (errno ENOENT, with the filename)
//   invalid_model   -> ValueError          (a file llama.cpp cannot load)
//   closed_object   -> ValueError          (use after close())
//   llama_error     -> llama_cpp.LlamaError (a RuntimeError: llama.cpp failed)
//   std::invalid_argument -> ValueError    (pybind11's own mapping)
#pragma once

#include <cstdint>
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

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD: text
// from a model file (metadata, llama.cpp's log quoting it) may hold any bytes, and
// Python's str needs UTF-8.
std::string utf8_lossy(const std::string &text);

// While one lives on a thread, a GGML_ASSERT that fails on that thread throws
// llama_error instead of aborting the process. Only around work that runs wholly on
// the calling thread and that llama.cpp unwinds cleanly: model loading (its loader
// catches the exception and reports the model as unreadable). ggml's C code is built
// with unwind tables (CMakeLists.txt) so the exception can pass through ggml_abort.
struct AbortAsException {
    AbortAsException();
    ~AbortAsException();
    AbortAsException(const AbortAsException &) = delete;
    AbortAsException &operator=(const AbortAsException &) = delete;
};

// `message`, followed by what llama.cpp logged (warnings and errors) since
// the log mark `since` (see log_capture.hpp): the cause, in llama.cpp's words.
std::string with_llama_log(const std::string &message, unsigned long long since);

// Make a failed ggml check (GGML_ABORT) end in AbortAsException's error, or park the
// thread of a broken RPC worker connection (remote.hpp); called once, when the module
// loads.
void install_abort_callback();

}  // namespace llama_pybind
