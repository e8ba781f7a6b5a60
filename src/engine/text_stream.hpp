// Incremental text output for generation: bytes arrive token by token and
// leave only when they are safe to show, that is
//   - never half a UTF-8 character (a multibyte character split across tokens
//     waits for its last byte), and
//   - never the start of a stop string (held back until it either completes,
//     and generation stops before it, or turns out to be something else).
// Pure C++, no Python and no llama.cpp: the engine uses it with the GIL released.
#pragma once

#include <string>
#include <vector>

namespace llama_pybind {

class TextStream {
public:
    explicit TextStream(std::vector<std::string> stops);

    // Append a token's bytes; return the bytes that became safe to emit. After
    // a stop string is found, stopped() is true and the text before it is
    // returned; everything from the stop string on is dropped.
    std::string push(const std::string &bytes);

    // End of generation without a stop string: whatever is still held.
    std::string flush();

    bool stopped() const { return stopped_; }
    const std::string &matched_stop() const { return matched_; }

private:
    std::vector<std::string> stops_;
    std::string held_;
    std::string matched_;
    bool stopped_ = false;
};

// Length of the longest prefix of `text` that does not end inside a UTF-8
// character (a trailing lead byte still waiting for continuation bytes).
size_t complete_utf8_prefix(const std::string &text, size_t end);

}  // namespace llama_pybind
