// Log area: llama.cpp's log lines (engine/log_capture.hpp) printed at a chosen
// level, and handed to a Python callback.
#include <atomic>

#include "bindings.hpp"
#include "engine/log_capture.hpp"

namespace llama_pybind {
namespace {

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

}  // namespace

void register_log(py::module_ &m) {
    log_capture::set_forward(call_python_callback);
    log_capture::install();
    m.def("set_log_level", &log_capture::set_print_threshold, py::arg("level"),
          "Print llama.cpp log lines at or above `level` to stderr (0 = print nothing, the default).");
    m.def("get_log_level", &log_capture::print_threshold, "The current print threshold (see set_log_level).");
    m.def(
        "set_log_callback",
        [](py::object callback) {
            if (!callback.is_none() && !PyCallable_Check(callback.ptr())) {
                throw py::type_error("the log callback must be callable (level, text bytes), or None");
            }
            if (g_callback == nullptr) {
                g_callback = new py::object();  // never freed: it may be read at exit
            }
            *g_callback = std::move(callback);
            g_has_callback.store(!g_callback->is_none(), std::memory_order_release);
        },
        py::arg("callback"),
        "Call callback(level, text) with every llama.cpp log message (level: 1 debug, 2 info, 3 warn, "
        "4 error, 5 continuation; text: bytes), from whichever thread logs it, with the GIL. None "
        "removes it. Exceptions it raises are reported as unraisable and do not stop llama.cpp.");
}

}  // namespace llama_pybind
