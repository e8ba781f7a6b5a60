// Backend area: llama.cpp initialisation, system info, registered ggml
// backends and devices (engine/devices.hpp), and the CPU features the CPU
// backend was built with.
#include <string>

#include "bindings.hpp"
#include "engine/devices.hpp"
#include "ggml-backend.h"
#include "llama.h"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

py::list devices_list() {
    py::list devices;
    for (const DeviceInfo &info : list_devices()) {
        py::dict d;
        d["name"] = info.name;
        d["description"] = info.description;
        d["type"] = info.type;
        d["backend"] = info.backend;
        d["memory_free"] = info.memory_free;
        d["memory_total"] = info.memory_total;
        devices.append(d);
    }
    return devices;
}

py::list backends_list() {
    py::list names;
    for (const std::string &name : list_backends()) {
        names.append(name);
    }
    return names;
}

py::dict features_dict(const std::string &name) {
    py::dict features;
    for (const auto &[feature, value] : backend_features(name)) {
        features[py::str(feature)] = value;
    }
    return features;
}

}  // namespace

void register_backend(py::module_ &m) {
    llama_backend_init();
    auto atexit = py::module_::import("atexit");
    atexit.attr("register")(py::cpp_function([]() { llama_backend_free(); }));

    m.def(
        "system_info", []() { return std::string(llama_print_system_info()); },
        "llama.cpp's own system-info line (llama_print_system_info).");
    m.def("backends", &backends_list, "Names of the registered ggml backends (e.g. ['CPU', 'BLAS']).");
    m.def("devices", &devices_list,
          "Registered backend devices: dicts with name, description, type (cpu/gpu/igpu/accel), "
          "backend, memory_free and memory_total (bytes).");
    m.def("backend_features", &features_dict, py::arg("backend"),
          "Build features a registered backend reports (for 'CPU': the instruction sets it was "
          "compiled for, e.g. {'AVX2': '1'}).");
    m.def(
        "load_backends",
        [](const std::string &directory) {
            py::gil_scoped_release release;
            ggml_backend_load_all_from_path(directory.c_str());
        },
        py::arg("directory"),
        "Load the ggml backend modules in `directory` (portable builds): for each backend the "
        "best variant for this machine (ggml_backend_load_all_from_path).");
    m.def("supports_mmap", &llama_supports_mmap);
    m.def("supports_mlock", &llama_supports_mlock);
    m.def("supports_gpu_offload", &llama_supports_gpu_offload);
    m.def("supports_rpc", &llama_supports_rpc);
    m.def("max_devices", &llama_max_devices);
}

}  // namespace llama_pybind
