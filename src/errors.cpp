#include "errors.hpp"

#include <cerrno>

#include "bindings.hpp"
#include "log_capture.hpp"

namespace llama_pybind {

std::string with_llama_log(const std::string &message, unsigned long long since) {
    std::string cause = log_capture::messages_since(since);
    if (cause.empty()) {
        return message;
    }
    return message + "\nllama.cpp said:\n" + cause;
}

void register_errors(py::module_ &m) {
    py::register_exception<llama_error>(m, "LlamaError", PyExc_RuntimeError);

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) {
                std::rethrow_exception(p);
            }
        } catch (const file_not_found &e) {
            py::object error = py::module_::import("builtins").attr("FileNotFoundError")(
                ENOENT, e.what(), e.path);
            PyErr_SetObject(PyExc_FileNotFoundError, error.ptr());
        } catch (const invalid_model &e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const closed_object &e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });
}

}  // namespace llama_pybind
