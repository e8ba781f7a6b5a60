// ggml devices by the names llama.cpp gives them ("CPU", "Vulkan0", "RPC1", ...),
// and the registered backends and devices as plain C++ values.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ggml-backend.h"

namespace llama_pybind {

// The device named `name`; std::invalid_argument (ValueError) listing the names there are.
ggml_backend_dev_t device_by_name(const std::string &name);

// What ggml says of one device (memory in bytes).
struct DeviceInfo {
    std::string name;
    std::string description;
    std::string type;     // cpu, gpu, igpu, accel, meta
    std::string backend;  // the registry it belongs to (CPU, CUDA, RPC, ...)
    size_t memory_free = 0;
    size_t memory_total = 0;
};

// `dev` described; its memory is asked for only with `ask_memory` (else 0).
DeviceInfo describe_device(ggml_backend_dev_t dev, bool ask_memory);

// Every registered backend device, in ggml's order.
std::vector<DeviceInfo> list_devices();

// Names of the registered ggml backends (e.g. CPU, BLAS).
std::vector<std::string> list_backends();

// Build features a registered backend reports, as (name, value); std::invalid_argument
// (ValueError) when no backend has that name.
std::vector<std::pair<std::string, std::string>> backend_features(const std::string &name);

}  // namespace llama_pybind
