// ggml devices by the names llama.cpp gives them ("CPU", "Vulkan0", "RPC1", ...).
#pragma once

#include <stdexcept>
#include <string>

#include "ggml-backend.h"

namespace llama_pybind {

// The device named `name`; std::invalid_argument (ValueError) listing the names there are.
inline ggml_backend_dev_t device_by_name(const std::string &name) {
    ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());
    if (dev == nullptr) {
        std::string known;
        for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
            known += std::string(known.empty() ? "" : ", ") + ggml_backend_dev_name(ggml_backend_dev_get(i));
        }
        throw std::invalid_argument("no device named '" + name + "'; this process has: " + known);
    }
    return dev;
}

}  // namespace llama_pybind
