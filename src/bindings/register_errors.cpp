// Errors area: the Python exceptions the engine's C++ failures become
// (engine/errors.hpp lists them).
#include <cerrno>

#include "bindings.hpp"
#include "engine/errors.hpp"

namespace llama_pybind {

void register_errors(py::module_ &m) {
    install_abort_callback();
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
