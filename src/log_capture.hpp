// llama.cpp/ggml log routing.
//
// Every log line goes through one callback: it is kept in a small ring
// buffer (warnings and errors, so a failure can be explained with
// llama.cpp's own words) and echoed to stderr when its level reaches the
// threshold set by set_log_level (default: nothing is printed). The callback
// never touches Python, so it is safe from any thread without the GIL.
#pragma once

#include <string>

namespace llama_pybind::log_capture {

void install();

// A mark to pass to messages_since(): the number of messages seen so far.
unsigned long long mark();

// Warnings and errors logged after `since`, one per line.
std::string messages_since(unsigned long long since);

}  // namespace llama_pybind::log_capture
