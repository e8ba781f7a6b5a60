// RPC area: attach ggml RPC workers as devices of this process (rpc_add_server) and
// serve this build's devices to other hosts (rpc_start_server). Both go through the RPC
// backend's registry entry, so they work when it is a module loaded at run time.
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "devices.hpp"
#include "errors.hpp"
#include "ggml-backend.h"
#include "ggml-rpc.h"
#include "log_capture.hpp"
#include "remote.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

ggml_backend_reg_t rpc_registry() {
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
    if (reg == nullptr) {
        throw llama_error("this build has no RPC backend; reinstall with CMAKE_ARGS=\"-DGGML_RPC=ON\" "
                          "(see docs/install/rpc.md)");
    }
    return reg;
}

template <typename Fn>
Fn rpc_function(const char *name) {
    auto fn = reinterpret_cast<Fn>(ggml_backend_reg_get_proc_address(rpc_registry(), name));
    if (fn == nullptr) {
        throw llama_error(std::string("the RPC backend of this build lacks ") + name);
    }
    return fn;
}

py::dict describe(ggml_backend_dev_t dev) {
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    py::dict d;
    d["name"] = ggml_backend_dev_name(dev);
    d["description"] = ggml_backend_dev_description(dev);
    d["memory_free"] = free;
    d["memory_total"] = total;
    return d;
}

// Connect to the worker at `endpoint` (host:port) and register its devices (once per
// endpoint and process); returns them. llama.cpp names them RPC0, RPC1, ... in the
// order workers are added, with the endpoint as description.
py::list add_server(const std::string &endpoint) {
    using add_fn = ggml_backend_reg_t (*)(const char *);
    auto add = rpc_function<add_fn>("ggml_backend_rpc_add_server");
    static std::mutex mutex;
    static std::set<std::string> registered;
    ggml_backend_reg_t server = nullptr;
    unsigned long long since = log_capture::mark();
    {
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mutex);
        if (remote::lost()) {
            throw llama_error("an RPC worker connection broke earlier in this process (" + remote::lost_reason() +
                              "); restart the process to connect to workers again");
        }
        {
            AbortAsException abort_as_exception;  // connect or handshake failed: an error
            server = add(endpoint.c_str());
        }
        if (server != nullptr && registered.insert(endpoint).second) {
            ggml_backend_register(server);
        }
    }
    if (server == nullptr) {
        throw llama_error(with_llama_log("the RPC worker at " + endpoint + " offers no devices", since));
    }
    py::list devices;
    for (size_t i = 0; i < ggml_backend_reg_dev_count(server); ++i) {
        devices.append(describe(ggml_backend_reg_dev_get(server, i)));
    }
    return devices;
}

// The devices a worker serves: those named, else every device that is not the CPU (or
// an accelerator of it), else the CPU.
std::vector<ggml_backend_dev_t> served_devices(const std::vector<std::string> &names) {
    std::vector<ggml_backend_dev_t> devices;
    for (const std::string &name : names) {
        devices.push_back(device_by_name(name));
    }
    if (devices.empty()) {
        for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
            ggml_backend_dev_t dev = ggml_backend_dev_get(i);
            const auto type = ggml_backend_dev_type(dev);
            const std::string backend = ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev));
            if (type != GGML_BACKEND_DEVICE_TYPE_CPU && type != GGML_BACKEND_DEVICE_TYPE_ACCEL && backend != "RPC") {
                devices.push_back(dev);
            }
        }
    }
    if (devices.empty()) {
        ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        if (cpu != nullptr) {
            devices.push_back(cpu);
        }
    }
    if (devices.empty()) {
        throw llama_error("this build has no device to serve");
    }
    return devices;
}

// Serve `devices` at `endpoint` until the process ends (ggml's RPC server: one client
// at a time). Returns only if it could not start, as an error.
void start_server(const std::string &endpoint, const std::optional<std::string> &cache_dir, size_t n_threads,
                  const std::vector<std::string> &names) {
    using start_fn = void (*)(const char *, const char *, size_t, size_t, ggml_backend_dev_t *);
    auto start = rpc_function<start_fn>("ggml_backend_rpc_start_server");
    std::vector<ggml_backend_dev_t> devices = served_devices(names);
    {
        py::gil_scoped_release release;
        start(endpoint.c_str(), cache_dir ? cache_dir->c_str() : nullptr, n_threads, devices.size(), devices.data());
    }
    throw llama_error("the RPC server at " + endpoint + " stopped: it could not listen there (see the message "
                      "above: another process on the port, or an address this host does not have)");
}

}  // namespace

void register_rpc(py::module_ &m) {
    m.def("rpc_add_server", &add_server, py::arg("endpoint"),
          "Connect to the ggml RPC worker at `endpoint` (host:port) and register its devices "
          "(once per endpoint); returns them as dicts (name, description, memory_free, "
          "memory_total). LlamaError if it cannot be reached or speaks another protocol.");
    m.def("rpc_served_devices",
          [](const std::vector<std::string> &names) {
              py::list out;
              for (ggml_backend_dev_t dev : served_devices(names)) {
                  out.append(describe(dev));
              }
              return out;
          },
          py::arg("names"), "The devices rpc_start_server would serve for these names (empty: the default choice).");
    m.def("rpc_start_server", &start_server, py::arg("endpoint"), py::arg("cache_dir"), py::arg("n_threads"),
          py::arg("devices"),
          "Serve this build's devices to RPC clients at `endpoint` until the process ends "
          "(ggml_backend_rpc_start_server); returns only by raising LlamaError when it cannot listen.");
    m.def(
        "rpc_connection_lost",
        []() -> std::optional<std::string> {
            if (!remote::lost()) {
                return std::nullopt;
            }
            return remote::lost_reason();
        },
        "ggml's message when an RPC worker connection broke in this process, else None.");
    m.attr("RPC_PROTOCOL_VERSION") =
        py::make_tuple(RPC_PROTO_MAJOR_VERSION, RPC_PROTO_MINOR_VERSION, RPC_PROTO_PATCH_VERSION);
}

}  // namespace llama_pybind
