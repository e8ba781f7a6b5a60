#include "errors.hpp"

#include <cstdio>

#include "ggml.h"
#include "log_capture.hpp"
#include "remote.hpp"

namespace llama_pybind {

namespace {

thread_local int abort_as_exception_depth = 0;

// ggml_abort's callback (a GGML_ASSERT that failed): on a thread inside
// AbortAsException, an exception that ends the call with an error; a broken RPC worker
// connection (on ggml's dispatcher thread) is recorded and that thread parked, so the
// work waiting on it fails with an error (remote.hpp); anywhere else ggml's own
// behaviour (the message, then abort()).
void on_ggml_abort(const char *message) {
    if (abort_as_exception_depth > 0) {
        throw llama_error(utf8_lossy(std::string("llama.cpp stopped on a failed check: ") + message));
    }
    if (remote::is_connection_failure(message)) {
        remote::park_after_failure(message);
    }
    std::fprintf(stderr, "%s\n", message);
}

}  // namespace

AbortAsException::AbortAsException() { ++abort_as_exception_depth; }

AbortAsException::~AbortAsException() { --abort_as_exception_depth; }

std::string utf8_lossy(const std::string &text) {
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by sequence length
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
        bool ok = len > 0 && i + len <= text.size();
        uint32_t code = lead & (0xFFu >> (len + 1));
        for (size_t k = 1; ok && k < len; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            ok = (next & 0xC0) == 0x80;
            code = (code << 6) | (next & 0x3F);
        }
        if (ok && len > 1) {
            ok = code >= smallest[len] && code <= 0x10FFFF && (code < 0xD800 || code > 0xDFFF);
        }
        if (ok) {
            out.append(text, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER, one per bad byte
            i += 1;
        }
    }
    return out;
}

std::string with_llama_log(const std::string &message, unsigned long long since) {
    std::string cause = log_capture::messages_since(since);
    if (cause.empty()) {
        return utf8_lossy(message);
    }
    return utf8_lossy(message + "\nllama.cpp said:\n" + cause);
}

void install_abort_callback() {
#if !defined(_MSC_VER)
    // (MSVC assumes C functions never throw: there a failed check still aborts)
    ggml_set_abort_callback(on_ggml_abort);
#endif
}

}  // namespace llama_pybind
