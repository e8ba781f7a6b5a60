#include "remote.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "errors.hpp"

#if !defined(_WIN32)
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace llama_pybind {
namespace remote {

namespace {

std::mutex failure_mutex;
std::condition_variable failure_cv;
std::atomic<bool> failure_seen{false};
std::string failure_message;

// A helper that finishes within this time after a failure elsewhere is waited for (it
// was not stuck on the broken connection); one abandoned later only touches memory that
// is never freed once a connection broke (see remote.hpp).
constexpr auto grace = std::chrono::milliseconds(500);

struct Outcome {
    std::mutex mutex;
    bool done = false;
    int64_t value = 0;
    std::exception_ptr error;
};

// Whether `endpoint` (host:port) accepts a TCP connection within a second.
bool accepts_connections(const std::string &endpoint) {
#if defined(_WIN32)
    (void)endpoint;
    return true;
#else
    const size_t colon = endpoint.rfind(':');
    if (colon == std::string::npos) {
        return false;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    if (getaddrinfo(endpoint.substr(0, colon).c_str(), endpoint.substr(colon + 1).c_str(), &hints, &found) != 0) {
        return false;
    }
    bool ok = false;
    for (addrinfo *a = found; a != nullptr && !ok; a = a->ai_next) {
        const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = true;
        } else {
            pollfd p{fd, POLLOUT, 0};
            int error = 0;
            socklen_t len = sizeof(error);
            ok = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
        }
        close(fd);
    }
    freeaddrinfo(found);
    return ok;
#endif
}

std::string lost_text(const char *what, const std::vector<std::string> &endpoints) {
    return std::string(what) + " failed: the connection to an RPC worker broke (" + lost_reason() + "; " +
           describe_workers(endpoints) +
           "). This process cannot use that worker again: llama.cpp keeps one connection per "
           "worker and it is gone. Restart the worker if it stopped, then restart this process "
           "(or the server) and load the model again.";
}

}  // namespace

bool is_connection_failure(const char *message) {
    return message != nullptr && std::strstr(message, "Remote RPC server crashed") != nullptr;
}

void park_after_failure(const char *message) {
    {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure_seen.load()) {
            // ggml's text without its "path/ggml-rpc.cpp:566: " prefix
            const char *text = std::strstr(message, "Remote RPC server");
            failure_message = text != nullptr ? text : message;
        }
        failure_seen.store(true);
    }
    failure_cv.notify_all();
    for (;;) {
        std::this_thread::sleep_for(std::chrono::hours(24));
    }
}

bool lost() { return failure_seen.load(); }

std::string describe_workers(const std::vector<std::string> &endpoints) {
    std::string all, down;
    for (const std::string &e : endpoints) {
        all += (all.empty() ? "" : ", ") + e;
        if (!accepts_connections(e)) {
            down += (down.empty() ? "" : ", ") + e;
        }
    }
    return "workers " + all + "; not accepting connections now: " + (down.empty() ? "none" : down);
}

std::string lost_reason() {
    std::lock_guard<std::mutex> lock(failure_mutex);
    return failure_message;
}

int64_t run(const char *what, const std::vector<std::string> &endpoints, const std::function<int64_t()> &work) {
    if (lost()) {
        throw llama_error(lost_text(what, endpoints));
    }
    auto outcome = std::make_shared<Outcome>();
    std::thread([outcome, work]() {
        int64_t value = 0;
        std::exception_ptr error;
        try {
            value = work();
        } catch (...) {
            error = std::current_exception();
        }
        {
            std::lock_guard<std::mutex> lock(outcome->mutex);
            outcome->value = value;
            outcome->error = error;
            outcome->done = true;
        }
        std::lock_guard<std::mutex> lock(failure_mutex);  // pairs with the wait below
        failure_cv.notify_all();
    }).detach();
    auto finished = [&outcome]() {
        std::lock_guard<std::mutex> lock(outcome->mutex);
        return outcome->done;
    };
    {
        std::unique_lock<std::mutex> lock(failure_mutex);
        failure_cv.wait(lock, [&]() { return finished() || failure_seen.load(); });
    }
    if (!finished()) {
        const auto until = std::chrono::steady_clock::now() + grace;
        std::unique_lock<std::mutex> lock(failure_mutex);
        failure_cv.wait_until(lock, until, [&]() { return finished(); });
    }
    if (!finished()) {
        throw llama_error(lost_text(what, endpoints));  // the helper waits on the broken connection
    }
    if (outcome->error) {
        std::rethrow_exception(outcome->error);
    }
    return outcome->value;
}

}  // namespace remote
}  // namespace llama_pybind
