// Backend area: llama.cpp initialisation, system info, registered ggml
// backends and devices, and the CPU features the CPU backend was built with.
#include <string>

#include "bindings.hpp"
#include "ggml-backend.h"
#include "llama.h"
#include "remote.hpp"

namespace llama_pybind {
namespace {

const char *device_type_name(enum ggml_backend_dev_type type) {
    switch (type) {
        case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
        case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
        case GGML_BACKEND_DEVICE_TYPE_ACCEL: return "accel";
        case GGML_BACKEND_DEVICE_TYPE_META: return "meta";
    }
    return "unknown";
}

py::list list_devices() {
    py::list devices;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        size_t free = 0, total = 0;
        const bool rpc = std::string(ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev))) == "RPC";
        if (!(rpc && remote::lost())) {  // asking a worker whose connection broke would wait forever
            ggml_backend_dev_memory(dev, &free, &total);
        }
        py::dict d;
        d["name"] = ggml_backend_dev_name(dev);
        d["description"] = ggml_backend_dev_description(dev);
        d["type"] = device_type_name(ggml_backend_dev_type(dev));
        d["backend"] = ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev));
        d["memory_free"] = free;
        d["memory_total"] = total;
        devices.append(d);
    }
    return devices;
}

py::list list_backends() {
    py::list names;
    for (size_t i = 0; i < ggml_backend_reg_count(); ++i) {
        names.append(ggml_backend_reg_name(ggml_backend_reg_get(i)));
    }
    return names;
}

py::dict backend_features(const std::string &name) {
    ggml_backend_reg_t reg = ggml_backend_reg_by_name(name.c_str());
    if (reg == nullptr) {
        throw std::invalid_argument("no backend named '" + name +
                                    "' is registered; registered backends: see backends()");
    }
    py::dict features;
    auto get_features = reinterpret_cast<ggml_backend_get_features_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features"));
    if (get_features == nullptr) {
        return features;
    }
    for (ggml_backend_feature *f = get_features(reg); f != nullptr && f->name != nullptr; ++f) {
        features[f->name] = f->value;
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
    m.def("backends", &list_backends, "Names of the registered ggml backends (e.g. ['CPU', 'BLAS']).");
    m.def("devices", &list_devices,
          "Registered backend devices: dicts with name, description, type (cpu/gpu/igpu/accel), "
          "backend, memory_free and memory_total (bytes).");
    m.def("backend_features", &backend_features, py::arg("backend"),
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
