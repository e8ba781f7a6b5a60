// The Context handle: a llama_context plus what the bindings track about it
// (the tokens decoded into each sequence), shared by the context and the
// generation areas.
//
// Locking: every use of the llama_context takes the context's mutex, awaited
// with the GIL released (see lock_without_gil); long llama.cpp work then runs
// with the GIL released too.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bindings.hpp"
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

}  // namespace llama_pybind
