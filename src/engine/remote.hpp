// Work on models whose layers live on RPC workers (ggml's RPC backend).
//
// ggml's RPC client sends every request through one dispatcher thread per worker, and
// when a worker's connection breaks it stops the process (GGML_ABORT on that thread).
// Here such a failure instead parks the dispatcher thread for good and records the
// failure; work that talks to workers runs on a helper thread and the caller waits for
// either its result or the failure, which it reports as a llama_error. What a broken
// connection touched (the model, its contexts and their batches) is then never freed:
// freeing would talk to the dead worker and wait forever, and the parked and abandoned
// threads may still hold pointers into it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace llama_pybind {
namespace remote {

// ggml's message when a worker connection breaks ("Remote RPC server crashed ...").
bool is_connection_failure(const char *message);

// Record the failure, wake every waiter, and never return (the calling thread is a
// dispatcher thread of ggml's RPC client, which would otherwise abort the process).
[[noreturn]] void park_after_failure(const char *message);

// Whether a worker connection broke in this process, and ggml's words for it.
bool lost();
std::string lost_reason();

// Run `work` (which may talk to RPC workers) on a helper thread and return what it
// returns, or throw llama_error when a worker connection breaks before it finishes.
// `what` names the work in that error, which also says which of `endpoints` (the
// workers the work uses, host:port) accept no connection now. Throws at once if a
// connection broke earlier. Everything `work` touches must stay valid if the helper is
// abandoned (see above).
int64_t run(const char *what, const std::vector<std::string> &endpoints, const std::function<int64_t()> &work);

// "the workers ... (down now: ...)" for an error message.
std::string describe_workers(const std::vector<std::string> &endpoints);

}  // namespace remote
}  // namespace llama_pybind
