#include "log_capture.hpp"

#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>

#include "bindings.hpp"
#include "llama.h"

namespace llama_pybind {
namespace log_capture {
namespace {

constexpr size_t kKeep = 64;

struct entry {
    unsigned long long seq;
    std::string text;
};

std::mutex g_mutex;
std::deque<entry> g_recent;             // warnings and errors only
unsigned long long g_seq = 0;           // messages seen, all levels
ggml_log_level g_last_level = GGML_LOG_LEVEL_NONE;
std::atomic<int> g_print_threshold{GGML_LOG_LEVEL_NONE};  // NONE: print nothing

// A Python log callback (set_log_callback). The object is read and written
// only with the GIL held; the flag lets the C callback skip the GIL when none
// is set, which is the usual case.
std::atomic<bool> g_has_callback{false};
py::object *g_callback = nullptr;

void call_python_callback(ggml_log_level level, const char *text) {
    if (!g_has_callback.load(std::memory_order_acquire) || !Py_IsInitialized()) {
        return;
    }
    py::gil_scoped_acquire gil;
    if (g_callback == nullptr || g_callback->is_none()) {
        return;
    }
    try {
        (*g_callback)(static_cast<int>(level), py::bytes(text));
    } catch (py::error_already_set &e) {
        // a failing callback must not unwind through llama.cpp: report it and go on
        e.discard_as_unraisable("llama_cpp log callback");
    }
}

void on_log(ggml_log_level level, const char *text, void * /*user_data*/) {
    if (text == nullptr) {
        return;
    }
    ggml_log_level effective = level == GGML_LOG_LEVEL_CONT ? g_last_level : level;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (level != GGML_LOG_LEVEL_CONT) {
            ++g_seq;
            g_last_level = level;
        }
        if (effective >= GGML_LOG_LEVEL_WARN && effective != GGML_LOG_LEVEL_CONT) {
            if (level == GGML_LOG_LEVEL_CONT && !g_recent.empty()) {
                g_recent.back().text += text;
            } else {
                g_recent.push_back({g_seq, text});
                if (g_recent.size() > kKeep) {
                    g_recent.pop_front();
                }
            }
        }
    }
    int threshold = g_print_threshold.load(std::memory_order_relaxed);
    if (threshold != GGML_LOG_LEVEL_NONE && effective >= threshold) {
        std::fputs(text, stderr);
        std::fflush(stderr);
    }
    call_python_callback(level, text);
}

}  // namespace

void install() { llama_log_set(on_log, nullptr); }

unsigned long long mark() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_seq;
}

std::string messages_since(unsigned long long since) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::string out;
    for (const entry &e : g_recent) {
        if (e.seq > since) {
            out += "  " + e.text;
            if (!out.empty() && out.back() != '\n') {
                out += '\n';
            }
        }
    }
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

}  // namespace log_capture

void register_log(py::module_ &m) {
    log_capture::install();
    m.def(
        "set_log_level",
        [](int level) {
            if (level < GGML_LOG_LEVEL_NONE || level > GGML_LOG_LEVEL_ERROR) {
                throw std::invalid_argument(
                    "log level must be 0 (print nothing), 1 (debug), 2 (info), 3 (warn) or 4 (error), got " +
                    std::to_string(level));
            }
            log_capture::g_print_threshold.store(level);
        },
        py::arg("level"),
        "Print llama.cpp log lines at or above `level` to stderr (0 = print nothing, the default).");
    m.def(
        "get_log_level", []() { return log_capture::g_print_threshold.load(); },
        "The current print threshold (see set_log_level).");
    m.def(
        "set_log_callback",
        [](py::object callback) {
            if (!callback.is_none() && !PyCallable_Check(callback.ptr())) {
                throw py::type_error("the log callback must be callable (level, text bytes), or None");
            }
            if (log_capture::g_callback == nullptr) {
                log_capture::g_callback = new py::object();  // never freed: it may be read at exit
            }
            *log_capture::g_callback = std::move(callback);
            log_capture::g_has_callback.store(!log_capture::g_callback->is_none(), std::memory_order_release);
        },
        py::arg("callback"),
        "Call callback(level, text) with every llama.cpp log message (level: 1 debug, 2 info, 3 warn, "
        "4 error, 5 continuation; text: bytes), from whichever thread logs it, with the GIL. None "
        "removes it. Exceptions it raises are reported as unraisable and do not stop llama.cpp.");
}

}  // namespace llama_pybind
