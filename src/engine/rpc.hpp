// RPC workers: attach ggml RPC workers as devices of this process (add_server) and
// serve this build's devices to other hosts (start_server). Both go through the RPC
// backend's registry entry, so they work when it is a module loaded at run time.
// Plain C++, called with the GIL released (bindings/register_rpc.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "ggml-backend.h"

namespace llama_pybind {
namespace rpc {

// Connect to the worker at `endpoint` (host:port) and register its devices (once per
// endpoint and process); returns them. llama.cpp names them RPC0, RPC1, ... in the
// order workers are added, with the endpoint as description.
std::vector<ggml_backend_dev_t> add_server(const std::string &endpoint);

// The devices a worker serves: those named, else every device that is not the CPU (or
// an accelerator of it), else the CPU.
std::vector<ggml_backend_dev_t> served_devices(const std::vector<std::string> &names);

// Serve `devices` at `endpoint` until the process ends (ggml's RPC server: one client
// at a time). Returns only if it could not start, as an error.
[[noreturn]] void start_server(const std::string &endpoint, const std::optional<std::string> &cache_dir,
                               size_t n_threads, const std::vector<std::string> &names);

}  // namespace rpc
}  // namespace llama_pybind
