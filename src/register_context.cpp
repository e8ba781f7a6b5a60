// Context area: a llama_context over a model, decoding token batches and
// reading the logits of the last token.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bindings.hpp"
#include "handles.hpp"
#include "log_capture.hpp"
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

class Context {
public:
    Context(const Model &model, uint32_t n_ctx, uint32_t n_batch, uint32_t n_ubatch, int32_t n_threads,
            int32_t n_threads_batch, bool embeddings)
        : model_(model.owner()) {
        llama_context_params params = llama_context_default_params();
        params.n_ctx = n_ctx;
        params.n_batch = n_batch;
        params.n_ubatch = n_ubatch == 0 ? n_batch : n_ubatch;
        params.n_seq_max = 1;
        if (n_threads <= 0) {
            n_threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
        }
        params.n_threads = n_threads;
        params.n_threads_batch = n_threads_batch > 0 ? n_threads_batch : params.n_threads;
        params.embeddings = embeddings;
        unsigned long long since = log_capture::mark();
        {
            py::gil_scoped_release release;
            ctx_ = llama_init_from_model(model_->model, params);
        }
        if (ctx_ == nullptr) {
            throw llama_error(with_llama_log("failed to create a llama.cpp context (n_ctx=" + std::to_string(n_ctx) +
                                                 ", n_batch=" + std::to_string(n_batch) + ")",
                                             since));
        }
    }
    ~Context() { close(); }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;

    void close() {
        std::unique_lock<std::mutex> lock = lock_without_gil();
        if (ctx_ != nullptr) {
            llama_free(ctx_);
            ctx_ = nullptr;
        }
        model_.reset();
    }
    bool closed() const { return ctx_ == nullptr; }

    // Append `tokens` to sequence 0 and evaluate them; logits are kept for the last one.
    void decode(const std::vector<llama_token> &tokens) {
        std::unique_lock<std::mutex> lock = lock_without_gil();
        llama_context *ctx = get();
        if (tokens.empty()) {
            throw std::invalid_argument("decode() needs at least one token");
        }
        const llama_vocab *vocab = llama_model_get_vocab(model_->model);
        for (llama_token t : tokens) {
            check_token(vocab, t);
        }
        const size_t n_ctx = llama_n_ctx(ctx);
        if (n_past_ + tokens.size() > n_ctx) {
            throw std::invalid_argument("cannot decode " + std::to_string(tokens.size()) + " tokens after " +
                                        std::to_string(n_past_) + ": that needs " +
                                        std::to_string(n_past_ + tokens.size()) + " positions and the context has n_ctx=" +
                                        std::to_string(n_ctx) + "; create the context with a larger n_ctx or clear() it");
        }
        const size_t n_batch = llama_n_batch(ctx);
        unsigned long long since = log_capture::mark();
        int32_t rc = 0;
        {
            py::gil_scoped_release release;
            llama_batch batch = llama_batch_init(static_cast<int32_t>(n_batch), 0, 1);
            for (size_t start = 0; start < tokens.size() && rc == 0; start += n_batch) {
                const size_t n = std::min(n_batch, tokens.size() - start);
                batch.n_tokens = static_cast<int32_t>(n);
                for (size_t i = 0; i < n; ++i) {
                    batch.token[i] = tokens[start + i];
                    batch.pos[i] = static_cast<llama_pos>(n_past_ + i);
                    batch.n_seq_id[i] = 1;
                    batch.seq_id[i][0] = 0;
                    batch.logits[i] = (start + i + 1 == tokens.size());
                }
                rc = llama_decode(ctx, batch);
                if (rc == 0) {
                    n_past_ += n;
                }
            }
            llama_batch_free(batch);
        }
        has_logits_ = rc == 0;
        if (rc != 0) {
            throw llama_error(with_llama_log("llama_decode failed with status " + std::to_string(rc) + " (" +
                                                 describe_decode_status(rc) + ")",
                                             since));
        }
    }

    py::array_t<float> logits() {
        std::unique_lock<std::mutex> lock = lock_without_gil();
        llama_context *ctx = get();
        if (!has_logits_) {
            throw std::invalid_argument("no logits yet: decode() some tokens first");
        }
        const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model_->model));
        const float *data = llama_get_logits_ith(ctx, -1);
        if (data == nullptr) {
            throw llama_error("llama.cpp returned no logits for the last token");
        }
        py::array_t<float> out(n_vocab);
        std::copy(data, data + n_vocab, out.mutable_data());
        return out;
    }

    void clear() {
        std::unique_lock<std::mutex> lock = lock_without_gil();
        llama_memory_clear(llama_get_memory(get()), true);
        n_past_ = 0;
        has_logits_ = false;
    }

    uint32_t n_ctx() { return llama_n_ctx(get()); }
    uint32_t n_batch() { return llama_n_batch(get()); }
    size_t n_past() const { return n_past_; }

private:
    // Wait for the context's mutex with the GIL released: a thread that holds the
    // mutex may need the GIL back (after a decode) before it can let go of it.
    std::unique_lock<std::mutex> lock_without_gil() {
        std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
        if (!lock.try_lock()) {
            if (PyGILState_Check()) {
                py::gil_scoped_release release;
                lock.lock();
            } else {
                lock.lock();
            }
        }
        return lock;
    }

    llama_context *get() const {
        if (ctx_ == nullptr) {
            throw closed_object("the context is closed; create a new one to use it");
        }
        return ctx_;
    }

    static const char *describe_decode_status(int32_t rc) {
        switch (rc) {
            case 1: return "no room in the KV cache for this batch: use a smaller batch or a larger n_ctx";
            case 2: return "aborted";
            case -1: return "invalid input batch";
            default: return "fatal error in llama.cpp";
        }
    }

    std::shared_ptr<model_owner> model_;
    llama_context *ctx_ = nullptr;
    std::mutex mutex_;
    size_t n_past_ = 0;
    bool has_logits_ = false;
};

}  // namespace

void register_context(py::module_ &m) {
    py::class_<Context>(m, "Context", "A llama.cpp context (llama_context): the KV cache and compute state.")
        .def(py::init([](const Model &model, int64_t n_ctx, int64_t n_batch, int64_t n_ubatch, int32_t n_threads,
                         int32_t n_threads_batch, bool embeddings) {
                 if (n_ctx < 0) {
                     throw std::invalid_argument("n_ctx must be >= 0 (0 = the model's training context), got " +
                                                 std::to_string(n_ctx));
                 }
                 if (n_batch <= 0) {
                     throw std::invalid_argument("n_batch must be > 0, got " + std::to_string(n_batch));
                 }
                 if (n_ubatch < 0) {
                     throw std::invalid_argument("n_ubatch must be >= 0 (0 = n_batch), got " + std::to_string(n_ubatch));
                 }
                 return std::make_unique<Context>(model, static_cast<uint32_t>(n_ctx), static_cast<uint32_t>(n_batch),
                                                  static_cast<uint32_t>(n_ubatch), n_threads, n_threads_batch,
                                                  embeddings);
             }),
             py::arg("model"), py::arg("n_ctx") = 512, py::arg("n_batch") = 512, py::arg("n_ubatch") = 0,
             py::arg("n_threads") = 0, py::arg("n_threads_batch") = 0, py::arg("embeddings") = false,
             "Create a context over `model` (n_threads 0 = one per hardware thread).")
        .def("decode", &Context::decode, py::arg("tokens"),
             "Evaluate `tokens` after those already decoded; keeps the last token's logits.")
        .def("logits", &Context::logits, "Logits of the last decoded token: a float32 array of n_vocab values.")
        .def("clear", &Context::clear, "Forget all decoded tokens (clears the KV cache).")
        .def("close", &Context::close, "Free the context.")
        .def_property_readonly("closed", &Context::closed)
        .def_property_readonly("n_ctx", &Context::n_ctx)
        .def_property_readonly("n_batch", &Context::n_batch)
        .def_property_readonly("n_past", &Context::n_past);
}

}  // namespace llama_pybind
