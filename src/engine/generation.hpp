// Generation: the token loop in C++.
//
// A Generation is one sequence being generated: tokens still to decode (the
// prompt, then each sampled token), its sampler chain, and a TextStream that
// turns token bytes into safe-to-show text and finds stop strings. step()
// advances any number of Generations on one Context with a single
// llama_decode (continuous batching: a new prompt joins the running batch);
// next() and run() drive one Generation with the GIL released, entering
// Python once per emitted chunk, or once per call.
//
// Speculative decoding: a Generation may guess the next tokens (a draft) from
// an n-gram lookup in its own history (prompt lookup, no GIL) or from a
// Python draft model. The draft is decoded in the same batch as the newest
// token; each drafted token the sampler would have picked anyway is accepted
// without another decode, and the KV cells of the rejected rest are dropped.
//
// Python in the engine: a Generation holds the Python callbacks it calls per
// token (logits_processor, stopping_criteria, draft_model) and the exception
// one of them raised, and drive() looks for Ctrl-C; so this header uses
// pybind11 types (py::object, py::error_already_set). Its output (Chunk) is
// plain C++; the bindings turn it into Python values.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "context.hpp"
#include "sampler.hpp"
#include "text_stream.hpp"
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace llama_pybind {

namespace py = pybind11;

struct TokenLogprob {
    llama_token token;
    float logprob;
    std::vector<std::pair<llama_token, float>> top;
};

struct Chunk {
    std::string text;
    std::vector<llama_token> tokens;
    std::vector<TokenLogprob> logprobs;
};

class Generation {
public:
    Generation(std::shared_ptr<Context> ctx, std::shared_ptr<SamplerChain> chain, int32_t seq,
               std::vector<llama_token> prompt, int64_t max_tokens, std::vector<std::string> stop, int32_t n_probs,
               bool check_signals);

    bool finished() const { return finished_; }
    bool needs_decode() const { return !finished_ && !pending_.empty(); }

    // Speculative decoding: prompt lookup (n-grams of up to `ngram_max` tokens,
    // `n_draft` tokens guessed) or, if `draft_fn` is not None, a Python
    // draft model draft_fn(input_ids) -> token ids.
    void set_draft(int32_t ngram_max, int32_t n_draft, py::object draft_fn);

    // Put up to `budget` pending tokens into `batch`; returns how many. The
    // last prompt token is always decoded on its own, as it is after a reused
    // prefix: the logits it gives then do not depend on what the cache held,
    // so the same call gives the same greedy output every time.
    size_t fill_batch(llama_batch &batch, size_t budget);

    // After a successful decode: the batched tokens join the sequence.
    void commit();

    bool ready_to_sample() const { return !finished_ && pending_.empty(); }

    // Sample the next token, then walk the draft: while the sampled token is
    // the drafted one (already decoded), it joins the sequence and the next
    // row is sampled. The KV cells of drafted tokens not accepted are dropped.
    void sample();

    // Sample a token from the logits of batch row `index`, and feed it
    // through the text stream. Decides whether generation goes on (then the
    // token is pending, to be decoded next). Returns the token, or -1 once
    // finished without one.
    llama_token sample_at(int32_t index);

    void set_hooks(py::object logits_processor, py::object stopping_criteria);
    bool python_error() const { return python_error_.has_value(); }
    // The exception a Python callback of this generation raised (None if none).
    py::object error() const;
    [[noreturn]] void raise_python_error() const;

    void cancel();

    Chunk take();
    // Text to hand out, or the end not yet reported.
    bool has_output() const { return !out_.text.empty() || (finished_ && !end_taken_); }

    const std::shared_ptr<Context> &context() const { return ctx_; }
    bool check_signals() const { return check_signals_; }
    const std::optional<std::string> &finish_reason() const { return finish_reason_; }
    const std::string &matched_stop() const { return text_.matched_stop(); }
    int64_t n_generated() const { return n_generated_; }
    int64_t n_drafted() const { return n_drafted_; }
    int64_t n_draft_accepted() const { return n_draft_accepted_; }
    size_t n_decoded() const { return n_decoded_; }
    int32_t seq() const { return seq_; }

private:
    // Fill draft_ with up to `limit` guessed tokens to follow pending_[0].
    void make_draft(size_t limit);

    void finish(const char *reason);

    // The sequence's tokens (plus `extra` if >= 0) as an int32 array; GIL held.
    py::array_t<int32_t> input_ids(llama_token extra);

    // Run a Python callback with the GIL; on an exception, keep it with this
    // generation (no Python error stays pending: in a batched step the other
    // generations go on), end the generation and return false.
    template <typename F>
    bool call_python(F &&body);

    void record_logprob(const float *logits, llama_token token);

    std::shared_ptr<Context> ctx_;
    std::shared_ptr<SamplerChain> chain_;
    int32_t seq_;
    std::vector<llama_token> pending_;
    int64_t max_tokens_;
    int32_t n_probs_;
    bool check_signals_;
    TextStream text_;
    Chunk out_;
    std::vector<llama_token> order_;
    std::vector<float> scores_;
    py::object logits_processor_ = py::none();
    py::object stopping_criteria_ = py::none();
    py::object draft_fn_ = py::none();
    int32_t draft_ngram_max_ = 1;
    int32_t draft_n_ = 0;
    std::vector<llama_token> draft_;
    std::vector<llama_token> lookup_;
    int64_t n_drafted_ = 0;
    int64_t n_draft_accepted_ = 0;
    std::optional<py::error_already_set> python_error_;
    size_t in_batch_ = 0;
    int32_t logits_index_ = -1;
    bool finished_ = false;
    bool end_taken_ = false;
    std::optional<std::string> finish_reason_;
    int64_t n_generated_ = 0;
    size_t n_decoded_ = 0;
};

// Drive one generation until it has output (a chunk) or, with `to_end`,
// until it finishes. Python is not entered in between, except to look for
// Ctrl-C when check_signals is set. nullopt once finished with nothing left
// to report. Called with the GIL held.
std::optional<Chunk> drive(Generation &g, bool to_end);

// Output produced by step() and not yet taken (Generation::take under the
// context's lock).
Chunk take_output(Generation &g);

// Advance several generations on one context with a single decode (continuous
// batching); a generation whose Python callback raised is finished and holds the
// exception, the others go on. Called with the GIL held.
void step(const std::shared_ptr<Context> &context, const std::vector<std::shared_ptr<Generation>> &gens);

}  // namespace llama_pybind
