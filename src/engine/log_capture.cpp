#include "log_capture.hpp"

#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>

#include "llama.h"

namespace llama_pybind {
namespace log_capture {
namespace {

constexpr size_t kKeep = 64;

struct entry {
    unsigned long long seq;
    std::string text;
};

std::mutex g_mutex;
std::deque<entry> g_recent;             // warnings and errors only
unsigned long long g_seq = 0;           // messages seen, all levels
ggml_log_level g_last_level = GGML_LOG_LEVEL_NONE;
std::atomic<int> g_print_threshold{GGML_LOG_LEVEL_NONE};  // NONE: print nothing
std::atomic<forward_fn> g_forward{nullptr};

void on_log(ggml_log_level level, const char *text, void * /*user_data*/) {
    if (text == nullptr) {
        return;
    }
    ggml_log_level effective = level == GGML_LOG_LEVEL_CONT ? g_last_level : level;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (level != GGML_LOG_LEVEL_CONT) {
            ++g_seq;
            g_last_level = level;
        }
        if (effective >= GGML_LOG_LEVEL_WARN && effective != GGML_LOG_LEVEL_CONT) {
            if (level == GGML_LOG_LEVEL_CONT && !g_recent.empty()) {
                g_recent.back().text += text;
            } else {
                g_recent.push_back({g_seq, text});
                if (g_recent.size() > kKeep) {
                    g_recent.pop_front();
                }
            }
        }
    }
    int threshold = g_print_threshold.load(std::memory_order_relaxed);
    if (threshold != GGML_LOG_LEVEL_NONE && effective >= threshold) {
        std::fputs(text, stderr);
        std::fflush(stderr);
    }
    if (forward_fn forward = g_forward.load(std::memory_order_acquire)) {
        forward(level, text);
    }
}

}  // namespace

void install() { llama_log_set(on_log, nullptr); }

unsigned long long mark() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_seq;
}

std::string messages_since(unsigned long long since) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::string out;
    for (const entry &e : g_recent) {
        if (e.seq > since) {
            out += "  " + e.text;
            if (!out.empty() && out.back() != '\n') {
                out += '\n';
            }
        }
    }
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

void set_print_threshold(int level) {
    if (level < GGML_LOG_LEVEL_NONE || level > GGML_LOG_LEVEL_ERROR) {
        throw std::invalid_argument(
            "log level must be 0 (print nothing), 1 (debug), 2 (info), 3 (warn) or 4 (error), got " +
            std::to_string(level));
    }
    g_print_threshold.store(level);
}

int print_threshold() { return g_print_threshold.load(); }

void set_forward(forward_fn forward) { g_forward.store(forward, std::memory_order_release); }

}  // namespace log_capture
}  // namespace llama_pybind
