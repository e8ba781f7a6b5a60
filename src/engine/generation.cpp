#include "generation.hpp"

#include <algorithm>
#include <cmath>

#include "log_capture.hpp"

namespace llama_pybind {

Generation::Generation(std::shared_ptr<Context> ctx, std::shared_ptr<SamplerChain> chain, int32_t seq,
                       std::vector<llama_token> prompt, int64_t max_tokens, std::vector<std::string> stop,
                       int32_t n_probs, bool check_signals)
    : ctx_(std::move(ctx)), chain_(std::move(chain)), seq_(seq), pending_(std::move(prompt)),
      max_tokens_(max_tokens), n_probs_(n_probs), check_signals_(check_signals), text_(std::move(stop)) {
    if (!chain_ || llama_sampler_chain_n(chain_->get()) == 0) {
        throw std::invalid_argument("the sampler chain is empty: add a sampler first");
    }
    std::unique_lock<std::mutex> lock = ctx_->lock_without_gil();
    ctx_->get();  // raises if the context was closed
    const std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
    for (llama_token t : pending_) {
        check_token(ctx_->vocab(), t);
    }
    if (n_probs_ < -1) {
        throw std::invalid_argument("logprobs must be >= 0 (or -1 for none), got " + std::to_string(n_probs_));
    }
    ctx_->check_prompt_fits(history.size() + pending_.size());
    if (pending_.empty() && history.empty()) {
        throw std::invalid_argument("nothing to generate from: give prompt tokens or decode some first");
    }
    const int32_t chain_vocab = chain_->vocab_size();
    const int32_t n_vocab = llama_vocab_n_tokens(ctx_->vocab());
    if (chain_vocab > 0 && chain_vocab != n_vocab) {
        throw std::invalid_argument("the sampler chain was built for a vocabulary of " +
                                    std::to_string(chain_vocab) + " tokens, this model has " +
                                    std::to_string(n_vocab));
    }
}

template <typename F>
bool Generation::call_python(F &&body) {
    py::gil_scoped_acquire acquire;
    try {
        body();
        return true;
    } catch (py::error_already_set &e) {
        python_error_.emplace(std::move(e));
    } catch (const std::exception &e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        python_error_.emplace();  // fetches (and clears) the error just set
    }
    finish("cancelled");
    return false;
}

void Generation::set_draft(int32_t ngram_max, int32_t n_draft, py::object draft_fn) {
    if (ngram_max < 0 || n_draft < 0) {
        throw std::invalid_argument("draft_ngram_max and draft_n must be >= 0");
    }
    if ((n_draft > 0 || !draft_fn.is_none()) &&
        (llama_model_is_recurrent(ctx_->model()) || llama_model_is_hybrid(ctx_->model()))) {
        throw std::invalid_argument(
            "speculative decoding (draft_model) needs a KV cache that can drop drafted tokens; "
            "this model is recurrent: remove draft_model=");
    }
    draft_ngram_max_ = std::max(ngram_max, 1);
    draft_n_ = n_draft;
    draft_fn_ = std::move(draft_fn);
}

size_t Generation::fill_batch(llama_batch &batch, size_t budget) {
    draft_.clear();
    in_batch_ = 0;
    if (pending_.size() == 1 && budget > 1 && (draft_n_ > 0 || !draft_fn_.is_none())) {
        make_draft(budget - 1);
        if (finished_) {  // the Python draft model raised
            draft_.clear();
            return 0;
        }
    }
    const std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
    const size_t n = std::min(budget, pending_.size() > 1 ? pending_.size() - 1 : pending_.size());
    // the draft follows the last pending token, each with its own logits
    const size_t total = n + draft_.size();
    for (size_t i = 0; i < total; ++i) {
        const auto at = static_cast<size_t>(batch.n_tokens);
        batch.token[at] = i < n ? pending_[i] : draft_[i - n];
        batch.pos[at] = static_cast<llama_pos>(history.size() + i);
        batch.n_seq_id[at] = 1;
        batch.seq_id[at][0] = seq_;
        batch.logits[at] = i + 1 >= pending_.size();
        if (i + 1 == pending_.size()) {
            logits_index_ = batch.n_tokens;
        }
        ++batch.n_tokens;
    }
    in_batch_ = n;
    return total;
}

void Generation::commit() {
    std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
    history.insert(history.end(), pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(in_batch_));
    n_decoded_ += in_batch_ + draft_.size();
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(in_batch_));
    in_batch_ = 0;
}

void Generation::sample() {
    llama_token token = sample_at(logits_index_);
    size_t accepted = 0;
    while (!finished_ && accepted < draft_.size() && token == draft_[accepted]) {
        ctx_->seq_tokens(seq_).push_back(token);
        pending_.clear();
        ++accepted;
        token = sample_at(logits_index_ + static_cast<int32_t>(accepted));
    }
    if (!draft_.empty()) {
        n_drafted_ += static_cast<int64_t>(draft_.size());
        n_draft_accepted_ += static_cast<int64_t>(accepted);
        const auto keep = static_cast<llama_pos>(ctx_->seq_tokens(seq_).size());
        llama_memory_seq_rm(llama_get_memory(ctx_->get()), seq_, keep, -1);
        draft_.clear();
    }
}

llama_token Generation::sample_at(int32_t index) {
    llama_context *c = ctx_->get();
    const llama_vocab *vocab = ctx_->vocab();
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    const float *row = llama_get_logits_ith(c, index);
    if (row == nullptr) {
        throw llama_error("llama.cpp returned no logits to sample from");
    }
    if (!logits_processor_.is_none()) {
        scores_.assign(row, row + n_vocab);
        if (!call_python([&] {
                py::array_t<float> arr(n_vocab, scores_.data());
                py::array_t<float, py::array::c_style | py::array::forcecast> result =
                    logits_processor_(input_ids(-1), arr);
                if (result.ndim() != 1 || result.shape(0) != n_vocab) {
                    throw std::invalid_argument("a logits processor must return n_vocab scores");
                }
                std::copy(result.data(), result.data() + n_vocab, scores_.begin());
            })) {
            return -1;
        }
        row = scores_.data();
    }
    llama_token token = 0;
    try {
        token = chain_->sample_row(row, n_vocab);
    } catch (const std::invalid_argument &) {
        finish("cancelled");
        throw;
    }
    if (llama_vocab_is_eog(vocab, token)) {
        finish("stop");
        return -1;
    }
    if (n_probs_ >= 0) {
        record_logprob(llama_get_logits_ith(c, index), token);
    }
    ++n_generated_;
    out_.tokens.push_back(token);
    out_.text += text_.push(token_piece(vocab, token, false));
    if (text_.stopped()) {
        finish("stop");
        return token;
    }
    if (!stopping_criteria_.is_none()) {
        bool stop = false;
        if (!call_python([&] {
                py::array_t<float> arr(n_vocab, row);
                stop = py::bool_(stopping_criteria_(input_ids(token), arr));
            })) {
            return token;
        }
        if (stop) {
            finish("stop");
            return token;
        }
    }
    if (max_tokens_ > 0 && n_generated_ >= max_tokens_) {
        finish("length");
        return token;
    }
    if (ctx_->seq_tokens(seq_).size() + 1 > ctx_->seq_capacity()) {
        finish("length");
        return token;
    }
    pending_.assign(1, token);
    return token;
}

void Generation::set_hooks(py::object logits_processor, py::object stopping_criteria) {
    logits_processor_ = std::move(logits_processor);
    stopping_criteria_ = std::move(stopping_criteria);
}

py::object Generation::error() const { return python_error_ ? python_error_->value() : py::object(py::none()); }

void Generation::raise_python_error() const { throw *python_error_; }

void Generation::cancel() {
    if (!finished_) {
        finish("cancelled");
    }
}

Chunk Generation::take() {
    Chunk out;
    std::swap(out, out_);
    end_taken_ = finished_;
    return out;
}

void Generation::make_draft(size_t limit) {
    const std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
    const size_t n_ctx = ctx_->seq_capacity();
    const size_t used = history.size() + 1;
    limit = std::min(limit, n_ctx > used ? n_ctx - used : 0);
    if (max_tokens_ > 0) {
        // row j gives token n_generated_ + 1 + j: rows past max_tokens are wasted
        const int64_t left = max_tokens_ - n_generated_ - 1;
        limit = std::min(limit, static_cast<size_t>(std::max<int64_t>(left, 0)));
    }
    if (limit == 0) {
        return;
    }
    if (!draft_fn_.is_none()) {
        call_python([&] {
            py::array_t<int32_t, py::array::c_style | py::array::forcecast> guess =
                draft_fn_(input_ids(pending_[0]));
            const int32_t n_vocab = llama_vocab_n_tokens(ctx_->vocab());
            for (py::ssize_t k = 0; k < guess.size() && draft_.size() < limit; ++k) {
                const int32_t t = guess.data()[k];
                if (t < 0 || t >= n_vocab) {
                    throw std::invalid_argument("the draft model returned token " + std::to_string(t) +
                                                ", outside the vocabulary (0.." + std::to_string(n_vocab - 1) +
                                                ")");
                }
                draft_.push_back(t);
            }
        });
        return;
    }
    // Prompt lookup: the latest earlier place where the sequence's last
    // n tokens occurred (longest n first); guess what followed it there.
    lookup_.assign(history.begin(), history.end());
    lookup_.push_back(pending_[0]);
    const size_t len = lookup_.size();
    for (size_t n = std::min<size_t>(static_cast<size_t>(draft_ngram_max_), len - 1); n >= 1; --n) {
        const llama_token *tail = lookup_.data() + len - n;
        for (size_t start = len - n; start-- > 0;) {
            if (std::equal(tail, tail + n, lookup_.data() + start)) {
                const size_t from = start + n;
                const size_t count = std::min({limit, static_cast<size_t>(draft_n_), len - from});
                draft_.assign(lookup_.begin() + static_cast<std::ptrdiff_t>(from),
                              lookup_.begin() + static_cast<std::ptrdiff_t>(from + count));
                return;
            }
        }
    }
}

void Generation::finish(const char *reason) {
    out_.text += text_.flush();
    finished_ = true;
    finish_reason_ = reason;
    pending_.clear();
}

py::array_t<int32_t> Generation::input_ids(llama_token extra) {
    const std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
    py::array_t<int32_t> ids(static_cast<py::ssize_t>(history.size() + (extra >= 0 ? 1 : 0)));
    std::copy(history.begin(), history.end(), ids.mutable_data());
    if (extra >= 0) {
        ids.mutable_data()[history.size()] = extra;
    }
    return ids;
}

void Generation::record_logprob(const float *logits, llama_token token) {
    const int32_t n_vocab = llama_vocab_n_tokens(ctx_->vocab());
    float max_logit = -INFINITY;
    for (int32_t i = 0; i < n_vocab; ++i) {
        max_logit = std::max(max_logit, logits[i]);
    }
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; ++i) {
        sum += std::exp(static_cast<double>(logits[i] - max_logit));
    }
    const auto log_z = static_cast<float>(max_logit + std::log(sum));
    TokenLogprob entry{token, logits[token] - log_z, {}};
    if (n_probs_ > 0) {
        order_.resize(static_cast<size_t>(n_vocab));
        for (int32_t i = 0; i < n_vocab; ++i) {
            order_[static_cast<size_t>(i)] = i;
        }
        const auto k = static_cast<std::ptrdiff_t>(std::min(n_probs_, n_vocab));
        std::partial_sort(order_.begin(), order_.begin() + k, order_.end(),
                          [logits](llama_token a, llama_token b) { return logits[a] > logits[b]; });
        for (std::ptrdiff_t i = 0; i < k; ++i) {
            entry.top.emplace_back(order_[static_cast<size_t>(i)], logits[order_[static_cast<size_t>(i)]] - log_z);
        }
    }
    out_.logprobs.push_back(std::move(entry));
}

namespace {

// One decode across every generation that has tokens to decode, then one
// sampling step for each that is ready. Caller holds the context lock and
// has released the GIL. Returns llama_decode's status.
int32_t step_locked(Context &ctx, const std::vector<Generation *> &gens) {
    llama_context *c = ctx.get();
    const size_t n_batch = llama_n_batch(c);
    std::vector<Generation *> in_batch;
    llama_batch &batch = ctx.scratch_batch(static_cast<int32_t>(n_batch));
    for (Generation *g : gens) {
        if (g->needs_decode() && static_cast<size_t>(batch.n_tokens) < n_batch) {
            g->fill_batch(batch, n_batch - static_cast<size_t>(batch.n_tokens));
            in_batch.push_back(g);
        }
    }
    int32_t rc = 0;
    if (batch.n_tokens > 0) {
        rc = ctx.decode(batch);
    }
    if (rc != 0) {
        return rc;
    }
    for (Generation *g : in_batch) {
        g->commit();
    }
    for (Generation *g : gens) {
        if (g->ready_to_sample()) {
            g->sample();
        }
    }
    return 0;
}

void raise_decode_error(int32_t rc, unsigned long long since) {
    throw llama_error(with_llama_log("llama_decode failed with status " + std::to_string(rc) + " (" +
                                         Context::describe_decode_status(rc) + ")",
                                     since));
}

}  // namespace

std::optional<Chunk> drive(Generation &g, bool to_end) {
    std::unique_lock<std::mutex> lock = g.context()->lock_without_gil();
    g.context()->get();
    if (g.finished() && !g.has_output()) {
        return std::nullopt;
    }
    unsigned long long since = log_capture::mark();
    int32_t rc = 0;
    bool interrupted = false;
    {
        py::gil_scoped_release release;
        std::vector<Generation *> one{&g};
        while (!g.finished()) {
            rc = step_locked(*g.context(), one);
            if (rc != 0 || (!to_end && g.has_output())) {
                break;
            }
            if (g.check_signals()) {
                py::gil_scoped_acquire acquire;
                if (PyErr_CheckSignals() != 0) {
                    interrupted = true;
                    break;
                }
            }
        }
    }
    if (interrupted) {
        g.cancel();
        throw py::error_already_set();
    }
    if (g.python_error()) {
        g.raise_python_error();
    }
    if (rc != 0) {
        g.cancel();
        raise_decode_error(rc, since);
    }
    return g.take();
}

Chunk take_output(Generation &g) {
    std::unique_lock<std::mutex> lock = g.context()->lock_without_gil();
    return g.take();
}

void step(const std::shared_ptr<Context> &context, const std::vector<std::shared_ptr<Generation>> &gens) {
    std::vector<Generation *> raw;
    for (const auto &g : gens) {
        if (!g || g->context() != context) {
            throw std::invalid_argument("every generation passed to step() must run on this context");
        }
        if (!g->finished()) {
            raw.push_back(g.get());
        }
    }
    std::unique_lock<std::mutex> lock = context->lock_without_gil();
    context->get();
    unsigned long long since = log_capture::mark();
    int32_t rc = 0;
    {
        py::gil_scoped_release release;
        rc = step_locked(*context, raw);
    }
    if (rc != 0) {
        raise_decode_error(rc, since);
    }
}

}  // namespace llama_pybind
