// llama.cpp/ggml log routing.
//
// Every log line goes through one callback: it is kept in a small ring
// buffer (warnings and errors, so a failure can be explained with
// llama.cpp's own words) and echoed to stderr when its level reaches the
// threshold set by set_log_level (default: nothing is printed). The callback
// never touches Python, so it is safe from any thread without the GIL; the
// bindings' Python log callback (set_log_callback) is reached through the
// forward function (set_forward).
#pragma once

#include <string>

#include "ggml.h"

namespace llama_pybind::log_capture {

void install();

// A mark to pass to messages_since(): the number of messages seen so far.
unsigned long long mark();

// Warnings and errors logged after `since`, one per line.
std::string messages_since(unsigned long long since);

// Print log lines at or above `level` to stderr (0 = print nothing, the default);
// std::invalid_argument (ValueError) for a level that is not 0..4.
void set_print_threshold(int level);

// The current print threshold (see set_print_threshold).
int print_threshold();

// A function that also sees every log line (level as llama.cpp gives it, text), called
// from whichever thread logs, without the GIL; nullptr for none.
using forward_fn = void (*)(ggml_log_level level, const char *text);
void set_forward(forward_fn forward);

}  // namespace llama_pybind::log_capture
