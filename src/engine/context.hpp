// The Context handle: a llama_context plus what the bindings track about it
// (the tokens decoded into each sequence), shared by the context and the
// generation areas; and the operations on a context's sequences (decode,
// KV memory, state, embeddings, LoRA, perf counters) as plain C++ values.
//
// Locking: every use of the llama_context takes the context's mutex, awaited
// with the GIL released (see lock_without_gil); long llama.cpp work then runs
// with the GIL released too. So context.cpp releases the GIL itself (pybind11's
// gil_scoped_release), in the middle of the work; this header has no Python types.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "handles.hpp"
#include "ggml-backend.h"
#include "llama.h"

namespace llama_pybind {

class Context {
public:
    Context(const Model &model, const llama_context_params &params);
    ~Context();
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;

    void close();
    bool closed() const { return ctx_ == nullptr; }

    // Wait for the mutex with the GIL released: a thread that holds the mutex
    // may need the GIL back (after a decode) before it can let go of it.
    std::unique_lock<std::mutex> lock_without_gil();

    llama_context *get() const;
    const llama_vocab *vocab() const { return llama_model_get_vocab(model_->model); }
    llama_model *model() const { return model_->model; }
    const llama_context_params &params() const { return params_; }

    // Tokens decoded into `seq` so far (their positions are 0..n-1).
    std::vector<llama_token> &seq_tokens(int32_t seq);
    void check_seq(int32_t seq) const;

    // Decode `tokens` after those already in `seq`, in n_batch pieces (caller
    // holds the lock and has released the GIL). Logits are kept for the last
    // token, or for every token when `all_logits` (then copied to `all_out`,
    // n_tokens x n_vocab). Returns llama_decode's status (0 = ok).
    int32_t decode_locked(int32_t seq, const std::vector<llama_token> &tokens, bool all_logits,
                          std::vector<float> *all_out);

    // llama_decode, on a helper thread when the model is on RPC workers, so that a worker
    // connection breaking ends it with an error (remote.hpp). Caller holds the lock.
    int32_t decode(const llama_batch &batch);

    // Drop the tokens of `seq` from position `keep` on (llama_memory_seq_rm);
    // false if the memory cannot do a partial removal (recurrent models).
    bool truncate_locked(int32_t seq, size_t keep);

    // A batch of room for `n_tokens` (one sequence id each), reused from one
    // decode step to the next; caller holds the lock. n_tokens is reset to 0.
    llama_batch &scratch_batch(int32_t n_tokens);

    // Positions one sequence can hold (llama_n_ctx_seq), and how to say so in
    // an error: "n_ctx=512", or the per-sequence share of a multi-sequence context.
    size_t seq_capacity() const { return llama_n_ctx_seq(get()); }
    std::string capacity_text() const;

    // The one prompt-length rule: a prompt of `n_tokens` (with what the sequence
    // already holds) must leave room for at least one generated token, so it needs
    // n_tokens < seq_capacity(); else std::invalid_argument (ValueError) saying
    // "Requested tokens (N) exceed context window of M: the prompt has N tokens and
    // <holder> holds M; shorten the prompt or <advice>".
    static constexpr const char *kPromptHolder = "the context";
    static constexpr const char *kPromptAdvice = "create the context with a larger n_ctx";
    void check_prompt_fits(size_t n_tokens, const std::string &holder = kPromptHolder,
                           const std::string &advice = kPromptAdvice) const;

    // A readable reason for a llama_decode status.
    static const char *describe_decode_status(int32_t rc);

private:
    // Threads kept for the context's lifetime, as llama.cpp's own tools do;
    // without them ggml makes a pool per graph (new threads per token when it
    // is built without OpenMP).
    void attach_threadpools();

    std::shared_ptr<model_owner> model_;
    llama_context *ctx_ = nullptr;
    llama_context_params params_;
    std::mutex mutex_;
    std::vector<std::vector<llama_token>> seq_tokens_;
    ggml_threadpool_t pool_ = nullptr;
    ggml_threadpool_t pool_batch_ = nullptr;
    void (*free_pool_)(ggml_threadpool_t) = nullptr;
    llama_batch batch_{};
    int32_t batch_capacity_ = 0;
};

// ---- operations on a context ---------------------------------------------------
// Each takes the context's lock (lock_without_gil) and raises for a closed context.

// n_rows x n_cols float values, row-major (logits).
struct FloatRows {
    std::vector<float> values;
    size_t n_rows = 0;
    size_t n_cols = 0;
};

// Per input of embed_many: a pooled vector of n_embd values, or with `pooled`
// false one row of n_embd values per token.
struct Embeddings {
    bool pooled = false;
    size_t n_embd = 0;
    std::vector<std::vector<float>> values;
};

// Create a context over `model` (n_threads 0 = one per hardware thread).
std::shared_ptr<Context> make_context(const Model &model, int64_t n_ctx, int64_t n_batch, int64_t n_ubatch,
                                      int32_t n_threads, int32_t n_threads_batch, bool embeddings,
                                      int64_t n_seq_max);

// Create a context from a full llama_context_params.
std::shared_ptr<Context> context_from_params(const Model &model, const llama_context_params &params);

// Evaluate `tokens` after those already in sequence `seq`. With all_logits: the logits
// of every token (len(tokens) x n_vocab); else nothing (empty rows).
FloatRows decode(Context &self, const std::vector<llama_token> &tokens, int32_t seq, bool all_logits);

// Logits of the last decoded token (n_vocab values).
std::vector<float> last_logits(Context &self);

// Forget all decoded tokens of every sequence (clears the KV cache).
void clear(Context &self);

// Forget the tokens of one sequence.
void seq_clear(Context &self, int32_t seq);

// Keep the first `keep` tokens of a sequence, forget the rest.
void truncate(Context &self, int32_t seq, int64_t keep);

// Keep the longest common prefix of `tokens` and what `seq` holds, drop the
// rest, and return how many tokens are kept: at most len(tokens) - 1, so the
// caller always decodes at least one token and gets fresh logits.
size_t reuse_prefix(Context &self, int32_t seq, const std::vector<llama_token> &tokens);

// Make sequence `dst` a copy of `src`.
void seq_cp(Context &self, int32_t src, int32_t dst);

// Forget every sequence but this one.
void seq_keep(Context &self, int32_t seq);

// Context shift: forget `n_discard` tokens after the first `n_keep` and move
// the later ones back, so generation can go on past n_ctx.
void shift(Context &self, int32_t seq, int64_t n_keep, int64_t n_discard);

// The tokens decoded into a sequence (a copy), and how many sequence 0 holds.
std::vector<llama_token> sequence_tokens(Context &self, int32_t seq);
size_t n_past(Context &self);

// The KV state of one sequence, as bytes; and a sequence restored from them and the
// tokens it holds.
std::string seq_state(Context &self, int32_t seq);
void set_seq_state(Context &self, int32_t seq, const std::string &data, const std::vector<llama_token> &tokens);

// Embeddings of several inputs in as few decodes as they fit: each decode packs up to
// n_seq_max inputs (one sequence each) and n_batch tokens. Per input: a pooled vector, or
// one row per token when the context does not pool. Every sequence is cleared before and
// after.
Embeddings embed_many(Context &self, const std::vector<std::vector<llama_token>> &inputs);

// Use these LoRA adapters (one scale each).
void set_lora(Context &self, const std::vector<std::shared_ptr<LoraAdapter>> &adapters,
              const std::vector<float> &scales);

// llama.cpp's timing counters (ms) and token counts, and their reset.
llama_perf_context_data perf(Context &self);
void perf_reset(Context &self);

}  // namespace llama_pybind
