#include "text_stream.hpp"

#include <algorithm>

namespace llama_pybind {

TextStream::TextStream(std::vector<std::string> stops) {
    for (std::string &s : stops) {
        if (!s.empty()) {
            stops_.push_back(std::move(s));
        }
    }
}

size_t complete_utf8_prefix(const std::string &text, size_t end) {
    // Look back over at most 3 bytes for the lead byte of the last character.
    for (size_t back = 1; back <= 4 && back <= end; ++back) {
        const auto c = static_cast<unsigned char>(text[end - back]);
        if ((c & 0xC0) == 0x80) {
            continue;  // continuation byte: keep looking for the lead byte
        }
        size_t need = 1;
        if ((c & 0xE0) == 0xC0) {
            need = 2;
        } else if ((c & 0xF0) == 0xE0) {
            need = 3;
        } else if ((c & 0xF8) == 0xF0) {
            need = 4;
        }
        return back < need ? end - back : end;
    }
    return end;  // only stray continuation bytes: nothing to wait for
}

std::string TextStream::push(const std::string &bytes) {
    if (stopped_) {
        return {};
    }
    held_ += bytes;
    // A complete stop string: emit what precedes the earliest one, then stop.
    size_t first = std::string::npos;
    for (const std::string &stop : stops_) {
        const size_t at = held_.find(stop);
        if (at != std::string::npos && (first == std::string::npos || at < first)) {
            first = at;
            matched_ = stop;
        }
    }
    if (first != std::string::npos) {
        std::string out = held_.substr(0, first);
        held_.clear();
        stopped_ = true;
        return out;
    }
    // Hold back the earliest tail that could still grow into a stop string.
    size_t safe = held_.size();
    for (const std::string &stop : stops_) {
        const size_t from = held_.size() > stop.size() ? held_.size() - stop.size() + 1 : 0;
        for (size_t i = from; i < safe; ++i) {
            const size_t n = held_.size() - i;
            if (held_.compare(i, n, stop, 0, n) == 0) {
                safe = i;
                break;
            }
        }
    }
    safe = complete_utf8_prefix(held_, safe);
    std::string out = held_.substr(0, safe);
    held_.erase(0, safe);
    return out;
}

std::string TextStream::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

}  // namespace llama_pybind
