// Generation area: the token loop in C++.
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
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "context.hpp"
#include "log_capture.hpp"
#include "sampler.hpp"
#include "text_stream.hpp"
#include <pybind11/stl.h>

namespace llama_pybind {
namespace {

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
               bool check_signals)
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
        const size_t n_ctx = ctx_->seq_capacity();
        if (history.size() + pending_.size() > n_ctx) {
            throw std::invalid_argument("the prompt needs " + std::to_string(history.size() + pending_.size()) +
                                        " positions but the context has " + ctx_->capacity_text());
        }
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

    bool finished() const { return finished_; }
    bool needs_decode() const { return !finished_ && !pending_.empty(); }

    // Speculative decoding: prompt lookup (n-grams of up to `ngram_max` tokens,
    // `n_draft` tokens guessed) or, if `draft_fn` is not None, a Python
    // draft model draft_fn(input_ids) -> token ids.
    void set_draft(int32_t ngram_max, int32_t n_draft, py::object draft_fn) {
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

    // Put up to `budget` pending tokens into `batch`; returns how many. The
    // last prompt token is always decoded on its own, as it is after a reused
    // prefix: the logits it gives then do not depend on what the cache held,
    // so the same call gives the same greedy output every time.
    size_t fill_batch(llama_batch &batch, size_t budget) {
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

    // After a successful decode: the batched tokens join the sequence.
    void commit() {
        std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
        history.insert(history.end(), pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(in_batch_));
        n_decoded_ += in_batch_ + draft_.size();
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(in_batch_));
        in_batch_ = 0;
    }

    bool ready_to_sample() const { return !finished_ && pending_.empty(); }

    // Sample the next token, then walk the draft: while the sampled token is
    // the drafted one (already decoded), it joins the sequence and the next
    // row is sampled. The KV cells of drafted tokens not accepted are dropped.
    void sample() {
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

    // Sample a token from the logits of batch row `index`, and feed it
    // through the text stream. Decides whether generation goes on (then the
    // token is pending, to be decoded next). Returns the token, or -1 once
    // finished without one.
    llama_token sample_at(int32_t index) {
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

    void set_hooks(py::object logits_processor, py::object stopping_criteria) {
        logits_processor_ = std::move(logits_processor);
        stopping_criteria_ = std::move(stopping_criteria);
    }
    bool python_error() const { return python_error_.has_value(); }
    // The exception a Python callback of this generation raised (None if none).
    py::object error() const { return python_error_ ? python_error_->value() : py::object(py::none()); }
    [[noreturn]] void raise_python_error() const { throw *python_error_; }

    void cancel() {
        if (!finished_) {
            finish("cancelled");
        }
    }

    Chunk take() {
        Chunk out;
        std::swap(out, out_);
        end_taken_ = finished_;
        return out;
    }
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
    void make_draft(size_t limit) {
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

    void finish(const char *reason) {
        out_.text += text_.flush();
        finished_ = true;
        finish_reason_ = reason;
        pending_.clear();
    }

    // The sequence's tokens (plus `extra` if >= 0) as an int32 array; GIL held.
    py::array_t<int32_t> input_ids(llama_token extra) {
        const std::vector<llama_token> &history = ctx_->seq_tokens(seq_);
        py::array_t<int32_t> ids(static_cast<py::ssize_t>(history.size() + (extra >= 0 ? 1 : 0)));
        std::copy(history.begin(), history.end(), ids.mutable_data());
        if (extra >= 0) {
            ids.mutable_data()[history.size()] = extra;
        }
        return ids;
    }

    // Run a Python callback with the GIL; on an exception, keep it with this
    // generation (no Python error stays pending: in a batched step the other
    // generations go on), end the generation and return false.
    template <typename F>
    bool call_python(F &&body) {
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

    void record_logprob(const float *logits, llama_token token) {
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

py::object chunk_to_python(Chunk &&chunk) {
    py::object logprobs = py::none();
    if (!chunk.logprobs.empty()) {
        py::list entries;
        for (const TokenLogprob &e : chunk.logprobs) {
            py::list top;
            for (const auto &[t, lp] : e.top) {
                top.append(py::make_tuple(t, lp));
            }
            entries.append(py::make_tuple(e.token, e.logprob, top));
        }
        logprobs = entries;
    }
    return py::make_tuple(py::bytes(chunk.text), py::cast(chunk.tokens), logprobs);
}

void raise_decode_error(int32_t rc, unsigned long long since) {
    throw llama_error(with_llama_log("llama_decode failed with status " + std::to_string(rc) + " (" +
                                         Context::describe_decode_status(rc) + ")",
                                     since));
}

// Drive one generation until it has output (a chunk) or, with `to_end`,
// until it finishes. Python is not entered in between, except to look for
// Ctrl-C when check_signals is set.
py::object drive(Generation &g, bool to_end) {
    std::unique_lock<std::mutex> lock = g.context()->lock_without_gil();
    g.context()->get();
    if (g.finished() && !g.has_output()) {
        return py::none();
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
    return chunk_to_python(g.take());
}

}  // namespace

void register_generation(py::module_ &m) {
    py::class_<Generation, std::shared_ptr<Generation>>(
        m, "Generation",
        "One sequence being generated on a Context: decode, sample, detokenize and stop-string checks in C++.")
        .def(py::init([](std::shared_ptr<Context> context, std::shared_ptr<SamplerChain> sampler, int32_t seq_id,
                         std::vector<llama_token> tokens, int64_t max_tokens, std::vector<std::string> stop,
                         int32_t logprobs, bool check_signals, py::object logits_processor,
                         py::object stopping_criteria, int32_t draft_ngram_max, int32_t draft_n,
                         py::object draft_model) {
                 if (!context) {
                     throw std::invalid_argument("context must not be None");
                 }
                 auto g = std::make_shared<Generation>(std::move(context), std::move(sampler), seq_id,
                                                       std::move(tokens), max_tokens, std::move(stop), logprobs,
                                                       check_signals);
                 g->set_hooks(std::move(logits_processor), std::move(stopping_criteria));
                 g->set_draft(draft_ngram_max, draft_n, std::move(draft_model));
                 return g;
             }),
             py::arg("context"), py::arg("sampler"), py::arg("seq_id"), py::arg("tokens"), py::arg("max_tokens"),
             py::arg("stop") = std::vector<std::string>{}, py::arg("logprobs") = -1, py::arg("check_signals") = false,
             py::arg("logits_processor") = py::none(), py::arg("stopping_criteria") = py::none(),
             py::arg("draft_ngram_max") = 2, py::arg("draft_n") = 0, py::arg("draft_model") = py::none(),
             "Generate in sequence `seq_id` after decoding `tokens` (the part of the prompt not yet in the "
             "sequence); max_tokens <= 0 means until the context is full; logprobs: -1 = none, else the "
             "sampled token's log-probability plus that many top alternatives. logits_processor(input_ids, "
             "scores) -> scores and stopping_criteria(input_ids, scores) -> bool are called per token. "
             "Speculative decoding: draft_n > 0 guesses that many tokens by prompt lookup (n-grams up to "
             "draft_ngram_max); or draft_model(input_ids) -> token ids guesses them (Python, per step).")
        .def("next", [](Generation &g) { return drive(g, false); },
             "Run until some text can be emitted (or the end): (text bytes, tokens, logprobs), or None "
             "once finished.")
        .def("run", [](Generation &g) { return drive(g, true); },
             "Run to the end: (text bytes, tokens, logprobs) of everything not yet returned.")
        .def("cancel", &Generation::cancel, "Stop this generation (finish_reason 'cancelled').")
        .def("take",
             [](Generation &g) {
                 std::unique_lock<std::mutex> lock = g.context()->lock_without_gil();
                 return chunk_to_python(g.take());
             },
             "Output produced by step() and not yet taken: (text bytes, tokens, logprobs).")
        .def_property_readonly("finished", &Generation::finished)
        .def_property_readonly("error", &Generation::error,
                               "The exception a Python callback (logits processor, stopping criteria, draft "
                               "model) raised, which ended this generation; None if none did.")
        .def_property_readonly("finish_reason", &Generation::finish_reason,
                               "None while running; 'stop' (EOS or a stop string), 'length' or 'cancelled'.")
        .def_property_readonly("matched_stop", &Generation::matched_stop, "The stop string that ended it, if any.")
        .def_property_readonly("n_generated", &Generation::n_generated, "Tokens sampled so far (EOS excluded).")
        .def_property_readonly("n_decoded", &Generation::n_decoded,
                               "Tokens decoded by this generation (drafted ones included).")
        .def_property_readonly("n_drafted", &Generation::n_drafted, "Draft tokens decoded (speculative decoding).")
        .def_property_readonly("n_draft_accepted", &Generation::n_draft_accepted,
                               "Draft tokens accepted: each saved one decode step.")
        .def_property_readonly("seq_id", &Generation::seq);

    m.def(
        "step",
        [](const std::shared_ptr<Context> &context, const std::vector<std::shared_ptr<Generation>> &gens) {
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
        },
        py::arg("context"), py::arg("generations"),
        "Advance several generations on one context with a single decode (continuous batching); "
        "read each one's output with take(). A generation whose Python callback raised is "
        "finished ('cancelled') and holds the exception in .error; the others go on.");
}

}  // namespace llama_pybind
