#include "context.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "errors.hpp"
#include "log_capture.hpp"
#include "remote.hpp"
#include <pybind11/pybind11.h>

namespace llama_pybind {

namespace py = pybind11;

// ---- Context ---------------------------------------------------------------

Context::Context(const Model &model, const llama_context_params &params) : model_(model.owner()), params_(params) {
    if (params_.n_threads <= 0) {
        params_.n_threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
    }
    if (params_.n_threads_batch <= 0) {
        params_.n_threads_batch = params_.n_threads;
    }
    if (params_.n_ubatch == 0 || params_.n_ubatch > params_.n_batch) {
        params_.n_ubatch = params_.n_batch;
    }
    if (params_.n_seq_max == 0) {
        params_.n_seq_max = 1;
    }
    unsigned long long since = log_capture::mark();
    {
        py::gil_scoped_release release;
        if (model_->remote) {  // buffers allocated on the workers
            llama_model *m = model_->model;
            auto params = std::make_shared<llama_context_params>(params_);  // outlives an abandoned helper
            auto made = std::make_shared<llama_context *>(nullptr);
            remote::run("creating a context", model_->endpoints, [m, params, made]() {
                *made = llama_init_from_model(m, *params);
                return int64_t{0};
            });
            ctx_ = *made;
        } else {
            ctx_ = llama_init_from_model(model_->model, params_);
        }
    }
    if (ctx_ == nullptr) {
        throw llama_error(with_llama_log("failed to create a llama.cpp context (n_ctx=" + std::to_string(params_.n_ctx) +
                                             ", n_batch=" + std::to_string(params_.n_batch) +
                                             ", n_seq_max=" + std::to_string(params_.n_seq_max) + ")",
                                         since));
    }
    attach_threadpools();
    params_.n_ctx = llama_n_ctx(ctx_);
    params_.n_batch = llama_n_batch(ctx_);
    params_.n_ubatch = llama_n_ubatch(ctx_);
    params_.pooling_type = llama_pooling_type(ctx_);
    seq_tokens_.resize(llama_n_seq_max(ctx_));
}

Context::~Context() { close(); }

void Context::attach_threadpools() {
    // Through the CPU backend's registry, so this also works when the backend
    // is a module loaded at run time (GGML_BACKEND_DL).
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (cpu == nullptr) {
        return;
    }
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    using new_fn = ggml_threadpool_t (*)(ggml_threadpool_params *);
    auto make = reinterpret_cast<new_fn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
    free_pool_ =
        reinterpret_cast<void (*)(ggml_threadpool_t)>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
    if (make == nullptr || free_pool_ == nullptr) {
        return;
    }
    ggml_threadpool_params tp = ggml_threadpool_params_default(params_.n_threads);
    pool_ = make(&tp);
    if (params_.n_threads_batch != params_.n_threads) {
        ggml_threadpool_params tpb = ggml_threadpool_params_default(params_.n_threads_batch);
        pool_batch_ = make(&tpb);
    }
    if (pool_ != nullptr) {
        llama_attach_threadpool(ctx_, pool_, pool_batch_ != nullptr ? pool_batch_ : pool_);
    }
}

void Context::close() {
    std::unique_lock<std::mutex> lock = lock_without_gil();
    if (model_ && model_->remote && remote::lost()) {
        // Freeing would talk to an unreachable worker, and an abandoned decode may still
        // point into the context and its batch: all of it is left allocated.
        ctx_ = nullptr;
        pool_ = pool_batch_ = nullptr;
        batch_capacity_ = 0;
        seq_tokens_.clear();
        model_.reset();
        return;
    }
    if (ctx_ != nullptr) {
        llama_free(ctx_);
        ctx_ = nullptr;
    }
    for (ggml_threadpool_t *pool : {&pool_, &pool_batch_}) {
        if (*pool != nullptr) {
            free_pool_(*pool);
            *pool = nullptr;
        }
    }
    seq_tokens_.clear();
    if (batch_capacity_ > 0) {
        llama_batch_free(batch_);
        batch_capacity_ = 0;
    }
    model_.reset();
    return_freed_memory();
}

llama_batch &Context::scratch_batch(int32_t n_tokens) {
    if (n_tokens > batch_capacity_) {
        if (batch_capacity_ > 0) {
            llama_batch_free(batch_);
        }
        batch_ = llama_batch_init(n_tokens, 0, 1);
        batch_capacity_ = n_tokens;
    }
    batch_.n_tokens = 0;
    return batch_;
}

std::unique_lock<std::mutex> Context::lock_without_gil() {
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

llama_context *Context::get() const {
    if (ctx_ == nullptr) {
        throw closed_object("the context is closed; create a new one to use it");
    }
    if (model_->remote && remote::lost()) {
        throw llama_error("this context's model has layers on RPC workers and a worker connection "
                          "broke (" + remote::lost_reason() + "; " + remote::describe_workers(model_->endpoints) +
                          "); restart this process and load the model again");
    }
    return ctx_;
}

int32_t Context::decode(const llama_batch &batch) {
    if (!model_->remote) {
        return llama_decode(ctx_, batch);
    }
    llama_context *c = ctx_;  // left allocated if the helper is abandoned (close())
    const llama_batch b = batch;
    // llama_decode may return before the workers finish; the logits are read (and waited
    // for) later, so the wait for the results happens on the helper too.
    return static_cast<int32_t>(remote::run("llama_decode", model_->endpoints, [c, b]() {
        const int32_t rc = llama_decode(c, b);
        if (rc == 0) {
            llama_synchronize(c);
        }
        return int64_t{rc};
    }));
}

void Context::check_seq(int32_t seq) const {
    if (seq < 0 || static_cast<size_t>(seq) >= seq_tokens_.size()) {
        throw std::invalid_argument("sequence id " + std::to_string(seq) + " is out of range: this context has n_seq_max=" +
                                    std::to_string(seq_tokens_.size()) + " (ids 0.." +
                                    std::to_string(static_cast<long>(seq_tokens_.size()) - 1) + ")");
    }
}

std::vector<llama_token> &Context::seq_tokens(int32_t seq) {
    check_seq(seq);
    return seq_tokens_[static_cast<size_t>(seq)];
}

int32_t Context::decode_locked(int32_t seq, const std::vector<llama_token> &tokens, bool all_logits,
                               std::vector<float> *all_out) {
    std::vector<llama_token> &history = seq_tokens_[static_cast<size_t>(seq)];
    const size_t n_batch = llama_n_batch(ctx_);
    const size_t n_vocab = static_cast<size_t>(llama_vocab_n_tokens(vocab()));
    if (all_out != nullptr) {
        all_out->resize(tokens.size() * n_vocab);
    }
    llama_batch batch = llama_batch_init(static_cast<int32_t>(n_batch), 0, 1);
    int32_t rc = 0;
    for (size_t start = 0; start < tokens.size() && rc == 0; start += n_batch) {
        const size_t n = std::min(n_batch, tokens.size() - start);
        batch.n_tokens = static_cast<int32_t>(n);
        for (size_t i = 0; i < n; ++i) {
            batch.token[i] = tokens[start + i];
            batch.pos[i] = static_cast<llama_pos>(history.size() + i);
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = seq;
            batch.logits[i] = all_logits || (start + i + 1 == tokens.size());
        }
        rc = decode(batch);
        if (rc != 0) {
            break;
        }
        history.insert(history.end(), tokens.begin() + static_cast<std::ptrdiff_t>(start),
                       tokens.begin() + static_cast<std::ptrdiff_t>(start + n));
        if (all_out != nullptr) {
            for (size_t i = 0; i < n; ++i) {
                const float *row = llama_get_logits_ith(ctx_, static_cast<int32_t>(i));
                std::memcpy(all_out->data() + (start + i) * n_vocab, row, n_vocab * sizeof(float));
            }
        }
    }
    llama_batch_free(batch);
    return rc;
}

bool Context::truncate_locked(int32_t seq, size_t keep) {
    std::vector<llama_token> &history = seq_tokens_[static_cast<size_t>(seq)];
    if (keep >= history.size()) {
        return true;
    }
    if (!llama_memory_seq_rm(llama_get_memory(ctx_), seq, static_cast<llama_pos>(keep), -1)) {
        return false;
    }
    history.resize(keep);
    return true;
}

std::string Context::capacity_text() const {
    llama_context *c = get();
    const uint32_t n_seq = llama_n_seq_max(c);
    if (n_seq <= 1 || llama_n_ctx_seq(c) == llama_n_ctx(c)) {
        return "n_ctx=" + std::to_string(llama_n_ctx(c));
    }
    return "n_ctx_seq=" + std::to_string(llama_n_ctx_seq(c)) + " (n_ctx=" + std::to_string(llama_n_ctx(c)) +
           " shared by n_seq_max=" + std::to_string(n_seq) + " sequences)";
}

void Context::check_prompt_fits(size_t n_tokens, const std::string &holder, const std::string &advice) const {
    const size_t n_ctx = seq_capacity();
    if (n_tokens >= n_ctx) {
        const std::string n = std::to_string(n_tokens);
        const std::string m = std::to_string(n_ctx);
        throw std::invalid_argument("Requested tokens (" + n + ") exceed context window of " + m + ": the prompt has " +
                                    n + " tokens and " + holder + " holds " + m + "; shorten the prompt or " + advice);
    }
}

const char *Context::describe_decode_status(int32_t rc) {
    switch (rc) {
        case 1: return "no room in the KV cache for this batch: use a smaller batch or a larger n_ctx";
        case 2: return "aborted";
        case -1: return "invalid input batch";
        default: return "fatal error in llama.cpp";
    }
}


namespace {

void require(bool ok, const std::string &message) {
    if (!ok) {
        throw std::invalid_argument(message);
    }
}

void check_tokens(const Context &ctx, const std::vector<llama_token> &tokens) {
    for (llama_token t : tokens) {
        check_token(ctx.vocab(), t);
    }
}

}  // namespace

// ---- operations on a context ---------------------------------------------------

FloatRows decode(Context &self, const std::vector<llama_token> &tokens, int32_t seq, bool all_logits) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    self.get();
    require(!tokens.empty(), "decode() needs at least one token");
    check_tokens(self, tokens);
    std::vector<llama_token> &history = self.seq_tokens(seq);
    const size_t n_ctx = self.seq_capacity();
    require(history.size() + tokens.size() <= n_ctx,
            "cannot decode " + std::to_string(tokens.size()) + " tokens after " + std::to_string(history.size()) +
                ": that needs " + std::to_string(history.size() + tokens.size()) +
                " positions and the context has " + self.capacity_text() +
                "; create the context with a larger n_ctx or clear() it");
    unsigned long long since = log_capture::mark();
    FloatRows all;
    int32_t rc = 0;
    {
        py::gil_scoped_release release;
        rc = self.decode_locked(seq, tokens, all_logits, all_logits ? &all.values : nullptr);
    }
    if (rc != 0) {
        throw llama_error(with_llama_log("llama_decode failed with status " + std::to_string(rc) + " (" +
                                             Context::describe_decode_status(rc) + ")",
                                         since));
    }
    if (!all_logits) {
        return all;
    }
    all.n_rows = tokens.size();
    all.n_cols = static_cast<size_t>(llama_vocab_n_tokens(self.vocab()));
    return all;
}

std::vector<float> last_logits(Context &self) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    const int32_t n_vocab = llama_vocab_n_tokens(self.vocab());
    const float *data = nullptr;
    bool any = false;
    for (int32_t s = 0; s < static_cast<int32_t>(self.params().n_seq_max) && !any; ++s) {
        any = !self.seq_tokens(s).empty();
    }
    if (any) {
        data = llama_get_logits_ith(ctx, -1);
    }
    require(data != nullptr, "no logits yet: decode() some tokens first");
    return std::vector<float>(data, data + n_vocab);
}

void clear(Context &self) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_memory_clear(llama_get_memory(self.get()), true);
    for (int32_t s = 0; s < static_cast<int32_t>(self.params().n_seq_max); ++s) {
        self.seq_tokens(s).clear();
    }
}

void seq_clear(Context &self, int32_t seq) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    self.seq_tokens(seq).clear();
    llama_memory_seq_rm(llama_get_memory(ctx), seq, -1, -1);
}

void truncate(Context &self, int32_t seq, int64_t keep) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    self.get();
    self.check_seq(seq);
    require(keep >= 0, "keep must be >= 0, got " + std::to_string(keep));
    if (!self.truncate_locked(seq, static_cast<size_t>(keep))) {
        throw llama_error("this model's memory cannot drop part of a sequence (recurrent model); clear it instead");
    }
}

size_t reuse_prefix(Context &self, int32_t seq, const std::vector<llama_token> &tokens) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    std::vector<llama_token> &history = self.seq_tokens(seq);
    size_t n = 0;
    const size_t limit = std::min(history.size(), tokens.empty() ? 0 : tokens.size() - 1);
    while (n < limit && history[n] == tokens[n]) {
        ++n;
    }
    if (!self.truncate_locked(seq, n)) {
        history.clear();
        llama_memory_seq_rm(llama_get_memory(ctx), seq, -1, -1);
        return 0;
    }
    return n;
}

void seq_cp(Context &self, int32_t src, int32_t dst) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    self.check_seq(src);
    self.check_seq(dst);
    require(src != dst, "seq_cp needs two different sequences");
    llama_memory_seq_rm(llama_get_memory(ctx), dst, -1, -1);
    llama_memory_seq_cp(llama_get_memory(ctx), src, dst, -1, -1);
    self.seq_tokens(dst) = self.seq_tokens(src);
}

void seq_keep(Context &self, int32_t seq) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    self.check_seq(seq);
    llama_memory_seq_keep(llama_get_memory(ctx), seq);
    for (int32_t s = 0; s < static_cast<int32_t>(self.params().n_seq_max); ++s) {
        if (s != seq) {
            self.seq_tokens(s).clear();
        }
    }
}

void shift(Context &self, int32_t seq, int64_t n_keep, int64_t n_discard) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    std::vector<llama_token> &history = self.seq_tokens(seq);
    require(n_keep >= 0 && n_discard > 0 && static_cast<size_t>(n_keep + n_discard) <= history.size(),
            "shift needs 0 <= n_keep, 0 < n_discard and n_keep + n_discard <= the sequence length (" +
                std::to_string(history.size()) + ")");
    llama_memory_t mem = llama_get_memory(ctx);
    if (!llama_memory_can_shift(mem)) {
        throw llama_error("this model's memory cannot shift positions; use a larger n_ctx instead");
    }
    const auto keep = static_cast<llama_pos>(n_keep);
    const auto discard = static_cast<llama_pos>(n_discard);
    llama_memory_seq_rm(mem, seq, keep, keep + discard);
    llama_memory_seq_add(mem, seq, keep + discard, -1, -discard);
    history.erase(history.begin() + keep, history.begin() + keep + discard);
}

std::vector<llama_token> sequence_tokens(Context &self, int32_t seq) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    self.get();
    return self.seq_tokens(seq);
}

size_t n_past(Context &self) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    self.get();
    return self.seq_tokens(0).size();
}

std::string seq_state(Context &self, int32_t seq) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    self.check_seq(seq);
    std::string data;
    {
        py::gil_scoped_release release;
        data.resize(llama_state_seq_get_size(ctx, seq));
        const size_t n = llama_state_seq_get_data(ctx, reinterpret_cast<uint8_t *>(data.data()), data.size(), seq);
        data.resize(n);
    }
    return data;
}

void set_seq_state(Context &self, int32_t seq, const std::string &data, const std::vector<llama_token> &tokens) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    check_tokens(self, tokens);
    std::vector<llama_token> &history = self.seq_tokens(seq);
    require(tokens.size() <= self.seq_capacity(), "the saved state holds " + std::to_string(tokens.size()) +
                                                      " tokens, more than this context's " + self.capacity_text());
    unsigned long long since = log_capture::mark();
    size_t n = 0;
    {
        py::gil_scoped_release release;
        llama_memory_seq_rm(llama_get_memory(ctx), seq, -1, -1);
        n = llama_state_seq_set_data(ctx, reinterpret_cast<const uint8_t *>(data.data()), data.size(), seq);
    }
    if (n == 0) {
        history.clear();
        throw std::invalid_argument(with_llama_log(
            "the saved state does not fit this context (saved from another model or with other context "
            "parameters?)",
            since));
    }
    history = tokens;
}

Embeddings embed_many(Context &self, const std::vector<std::vector<llama_token>> &inputs) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    require(self.params().embeddings, "this context was not created with embeddings=True");
    const size_t n_batch = llama_n_batch(ctx);
    const size_t limit = std::min(static_cast<size_t>(llama_n_ctx_seq(ctx)), n_batch);
    for (size_t i = 0; i < inputs.size(); ++i) {
        require(!inputs[i].empty(), "cannot embed an empty input (input " + std::to_string(i) + ")");
        check_tokens(self, inputs[i]);
        require(inputs[i].size() <= limit, "input " + std::to_string(i) + " has " +
                                               std::to_string(inputs[i].size()) +
                                               " tokens but this context embeds at most " +
                                               std::to_string(limit) + " per input");
    }
    const auto n_seq = static_cast<size_t>(llama_n_seq_max(ctx));
    const auto n_embd = static_cast<size_t>(llama_model_n_embd_out(self.model()));
    const bool pooled = llama_pooling_type(ctx) != LLAMA_POOLING_TYPE_NONE;
    std::vector<std::vector<float>> outs(inputs.size());
    unsigned long long since = log_capture::mark();
    int32_t rc = 0;
    bool missing = false;
    {
        py::gil_scoped_release release;
        llama_memory_t memory = llama_get_memory(ctx);
        auto clear_all = [&] {
            for (size_t s = 0; s < n_seq; ++s) {
                llama_memory_seq_rm(memory, static_cast<llama_seq_id>(s), -1, -1);
                self.seq_tokens(static_cast<int32_t>(s)).clear();
            }
        };
        clear_all();
        llama_batch batch = llama_batch_init(static_cast<int32_t>(n_batch), 0, 1);
        size_t next = 0;
        while (next < inputs.size() && rc == 0 && !missing) {
            std::vector<size_t> packed;
            batch.n_tokens = 0;
            while (next < inputs.size() && packed.size() < n_seq &&
                   static_cast<size_t>(batch.n_tokens) + inputs[next].size() <= n_batch) {
                const auto seq = static_cast<llama_seq_id>(packed.size());
                for (size_t i = 0; i < inputs[next].size(); ++i) {
                    const int32_t at = batch.n_tokens++;
                    batch.token[at] = inputs[next][i];
                    batch.pos[at] = static_cast<llama_pos>(i);
                    batch.n_seq_id[at] = 1;
                    batch.seq_id[at][0] = seq;
                    batch.logits[at] = true;
                }
                packed.push_back(next++);
            }
            rc = self.decode(batch);
            int32_t row = 0;
            for (size_t k = 0; k < packed.size() && rc == 0 && !missing; ++k) {
                const std::vector<llama_token> &tokens = inputs[packed[k]];
                std::vector<float> &out = outs[packed[k]];
                if (pooled) {
                    const float *e = llama_get_embeddings_seq(ctx, static_cast<llama_seq_id>(k));
                    missing = e == nullptr;
                    if (!missing) {
                        out.assign(e, e + n_embd);
                    }
                } else {
                    out.resize(tokens.size() * n_embd);
                    for (size_t i = 0; i < tokens.size() && !missing; ++i) {
                        const float *e = llama_get_embeddings_ith(ctx, row + static_cast<int32_t>(i));
                        missing = e == nullptr;
                        if (!missing) {
                            std::memcpy(out.data() + i * n_embd, e, n_embd * sizeof(float));
                        }
                    }
                }
                row += static_cast<int32_t>(tokens.size());
            }
            clear_all();
        }
        llama_batch_free(batch);
    }
    if (rc != 0) {
        throw llama_error(with_llama_log("llama_decode failed with status " + std::to_string(rc) + " (" +
                                             Context::describe_decode_status(rc) + ")",
                                         since));
    }
    if (missing) {
        throw llama_error(with_llama_log("llama.cpp returned no embeddings", since));
    }
    return Embeddings{pooled, n_embd, std::move(outs)};
}

void set_lora(Context &self, const std::vector<std::shared_ptr<LoraAdapter>> &adapters,
              const std::vector<float> &scales) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_context *ctx = self.get();
    require(adapters.size() == scales.size(), "set_lora needs one scale per adapter");
    std::vector<llama_adapter_lora *> raw;
    for (const auto &a : adapters) {
        require(a && a->model->model == self.model(), "a LoRA adapter was loaded for another model");
        raw.push_back(a->adapter);
    }
    std::vector<float> s = scales;
    if (llama_set_adapters_lora(ctx, raw.data(), raw.size(), s.data()) != 0) {
        throw llama_error("llama.cpp could not apply the LoRA adapters");
    }
}

llama_perf_context_data perf(Context &self) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    return llama_perf_context(self.get());
}

void perf_reset(Context &self) {
    std::unique_lock<std::mutex> lock = self.lock_without_gil();
    llama_perf_context_reset(self.get());
}

std::shared_ptr<Context> make_context(const Model &model, int64_t n_ctx, int64_t n_batch, int64_t n_ubatch,
                                      int32_t n_threads, int32_t n_threads_batch, bool embeddings,
                                      int64_t n_seq_max) {
    require(n_ctx >= 0, "n_ctx must be >= 0 (0 = the model's training context), got " + std::to_string(n_ctx));
    require(n_batch > 0, "n_batch must be > 0, got " + std::to_string(n_batch));
    require(n_ubatch >= 0, "n_ubatch must be >= 0 (0 = n_batch), got " + std::to_string(n_ubatch));
    require(n_seq_max >= 1 && n_seq_max <= static_cast<int64_t>(llama_max_parallel_sequences()),
            "n_seq_max must be in 1.." + std::to_string(llama_max_parallel_sequences()) + ", got " +
                std::to_string(n_seq_max));
    llama_context_params params = llama_context_default_params();
    params.n_ctx = static_cast<uint32_t>(n_ctx);
    params.n_batch = static_cast<uint32_t>(n_batch);
    params.n_ubatch = static_cast<uint32_t>(n_ubatch);
    params.n_threads = n_threads;
    params.n_threads_batch = n_threads_batch;
    params.embeddings = embeddings;
    params.n_seq_max = static_cast<uint32_t>(n_seq_max);
    return std::make_shared<Context>(model, params);
}

std::shared_ptr<Context> context_from_params(const Model &model, const llama_context_params &params) {
    require(params.n_batch > 0, "n_batch must be > 0");
    require(params.n_seq_max >= 1 && params.n_seq_max <= llama_max_parallel_sequences(),
            "n_seq_max must be in 1.." + std::to_string(llama_max_parallel_sequences()));
    return std::make_shared<Context>(model, params);
}

}  // namespace llama_pybind
