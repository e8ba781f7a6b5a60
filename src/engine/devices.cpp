#include "devices.hpp"

#include <stdexcept>

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

}  // namespace

ggml_backend_dev_t device_by_name(const std::string &name) {
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

DeviceInfo describe_device(ggml_backend_dev_t dev, bool ask_memory) {
    DeviceInfo d;
    if (ask_memory) {
        ggml_backend_dev_memory(dev, &d.memory_free, &d.memory_total);
    }
    d.name = ggml_backend_dev_name(dev);
    d.description = ggml_backend_dev_description(dev);
    d.type = device_type_name(ggml_backend_dev_type(dev));
    d.backend = ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev));
    return d;
}

std::vector<DeviceInfo> list_devices() {
    std::vector<DeviceInfo> devices;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const bool rpc = std::string(ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev))) == "RPC";
        // asking a worker whose connection broke would wait forever
        devices.push_back(describe_device(dev, !(rpc && remote::lost())));
    }
    return devices;
}

std::vector<std::string> list_backends() {
    std::vector<std::string> names;
    for (size_t i = 0; i < ggml_backend_reg_count(); ++i) {
        names.emplace_back(ggml_backend_reg_name(ggml_backend_reg_get(i)));
    }
    return names;
}

std::vector<std::pair<std::string, std::string>> backend_features(const std::string &name) {
    ggml_backend_reg_t reg = ggml_backend_reg_by_name(name.c_str());
    if (reg == nullptr) {
        throw std::invalid_argument("no backend named '" + name +
                                    "' is registered; registered backends: see backends()");
    }
    std::vector<std::pair<std::string, std::string>> features;
    auto get_features = reinterpret_cast<ggml_backend_get_features_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features"));
    if (get_features == nullptr) {
        return features;
    }
    for (ggml_backend_feature *f = get_features(reg); f != nullptr && f->name != nullptr; ++f) {
        features.emplace_back(f->name, f->value != nullptr ? f->value : "");
    }
    return features;
}

}  // namespace llama_pybind
