// RPC area: attach ggml RPC workers as devices of this process (rpc_add_server) and
// serve this build's devices to other hosts (rpc_start_server); the work is in
// engine/rpc.cpp.
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "engine/devices.hpp"
#include "engine/remote.hpp"
#include "engine/rpc.hpp"
#include "ggml-rpc.h"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

py::dict describe(ggml_backend_dev_t dev) {
    const DeviceInfo info = describe_device(dev, true);
    py::dict d;
    d["name"] = info.name;
    d["description"] = info.description;
    d["memory_free"] = info.memory_free;
    d["memory_total"] = info.memory_total;
    return d;
}

py::list add_server(const std::string &endpoint) {
    std::vector<ggml_backend_dev_t> added;
    {
        py::gil_scoped_release release;
        added = rpc::add_server(endpoint);
    }
    py::list devices;
    for (ggml_backend_dev_t dev : added) {
        devices.append(describe(dev));
    }
    return devices;
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
              for (ggml_backend_dev_t dev : rpc::served_devices(names)) {
                  out.append(describe(dev));
              }
              return out;
          },
          py::arg("names"), "The devices rpc_start_server would serve for these names (empty: the default choice).");
    m.def("rpc_start_server", &rpc::start_server, py::arg("endpoint"), py::arg("cache_dir"), py::arg("n_threads"),
          py::arg("devices"), py::call_guard<py::gil_scoped_release>(),
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
