#include "rpc.hpp"

#include <mutex>
#include <set>

#include "devices.hpp"
#include "errors.hpp"
#include "log_capture.hpp"
#include "remote.hpp"

namespace llama_pybind {
namespace rpc {
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

}  // namespace

std::vector<ggml_backend_dev_t> add_server(const std::string &endpoint) {
    using add_fn = ggml_backend_reg_t (*)(const char *);
    auto add = rpc_function<add_fn>("ggml_backend_rpc_add_server");
    static std::mutex mutex;
    static std::set<std::string> registered;
    ggml_backend_reg_t server = nullptr;
    unsigned long long since = log_capture::mark();
    {
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
    std::vector<ggml_backend_dev_t> devices;
    for (size_t i = 0; i < ggml_backend_reg_dev_count(server); ++i) {
        devices.push_back(ggml_backend_reg_dev_get(server, i));
    }
    return devices;
}

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

void start_server(const std::string &endpoint, const std::optional<std::string> &cache_dir, size_t n_threads,
                  const std::vector<std::string> &names) {
    using start_fn = void (*)(const char *, const char *, size_t, size_t, ggml_backend_dev_t *);
    auto start = rpc_function<start_fn>("ggml_backend_rpc_start_server");
    std::vector<ggml_backend_dev_t> devices = served_devices(names);
    start(endpoint.c_str(), cache_dir ? cache_dir->c_str() : nullptr, n_threads, devices.size(), devices.data());
    throw llama_error("the RPC server at " + endpoint + " stopped: it could not listen there (see the message "
                      "above: another process on the port, or an address this host does not have)");
}

}  // namespace rpc
}  // namespace llama_pybind
