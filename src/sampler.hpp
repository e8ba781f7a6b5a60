// The SamplerChain handle: a llama.cpp sampler chain (llama_sampler_chain_*),
// built step by step from Python; shared by the sampler and generation areas.
//
// Sampling one row is short, so the chain is used with the GIL held when
// called from Python; the generation engine uses it with the GIL released,
// under the context's lock.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "handles.hpp"
#include "log_capture.hpp"
#include <pybind11/numpy.h>

namespace llama_pybind {

struct sampler_deleter {
    void operator()(llama_sampler *s) const { llama_sampler_free(s); }
};
using sampler_ptr = std::unique_ptr<llama_sampler, sampler_deleter>;

inline void require_arg(bool ok, const std::string &message) {
    if (!ok) {
        throw std::invalid_argument(message);
    }
}

inline void require_probability(float p, const char *name) {
    require_arg(std::isfinite(p) && p >= 0.0f && p <= 1.0f,
            std::string(name) + " must be a number in [0, 1], got " + std::to_string(p));
}

class SamplerChain {
public:
    SamplerChain() : chain_(llama_sampler_chain_init(llama_sampler_chain_default_params())) {}

    // `greedy_path`: the sampler is one the greedy fast path reproduces
    // (logit bias, neutral penalties, greedy itself).
    void add(llama_sampler *s, const std::string &what, bool greedy_path = false) {
        if (s == nullptr) {
            throw llama_error("llama.cpp could not create the " + what + " sampler");
        }
        llama_sampler_chain_add(chain_.get(), s);  // the chain owns it from here
        fast_greedy_ = greedy_path && !ends_in_greedy_ && fast_greedy_;
        ends_in_greedy_ = false;
    }

    void add_greedy() {
        add(llama_sampler_init_greedy(), "greedy", true);
        ends_in_greedy_ = true;
    }
    void add_dist(uint32_t seed) { add(llama_sampler_init_dist(seed), "dist"); }
    void add_top_k(int32_t k) { add(llama_sampler_init_top_k(k), "top-k"); }
    void add_top_p(float p, size_t min_keep) {
        require_probability(p, "top_p");
        add(llama_sampler_init_top_p(p, min_keep), "top-p");
    }
    void add_min_p(float p, size_t min_keep) {
        require_probability(p, "min_p");
        add(llama_sampler_init_min_p(p, min_keep), "min-p");
    }
    void add_typical(float p, size_t min_keep) {
        require_probability(p, "typical_p");
        add(llama_sampler_init_typical(p, min_keep), "typical");
    }
    void add_temp(float t) {
        require_arg(std::isfinite(t) && t >= 0.0f,
                "temperature must be a finite number >= 0 (0 = greedy), got " + std::to_string(t));
        add(llama_sampler_init_temp(t), "temperature");
    }
    void add_penalties(int32_t n_vocab, int32_t last_n, float repeat, float frequency, float presence) {
        use_vocab_size(n_vocab);
        require_arg(last_n >= 0, "penalty_last_n must be >= 0 (0 = off), got " + std::to_string(last_n));
        require_arg(std::isfinite(repeat) && repeat > 0.0f,
                "repeat_penalty must be > 0 (1 = off), got " + std::to_string(repeat));
        require_arg(std::isfinite(frequency) && std::isfinite(presence),
                "frequency_penalty and presence_penalty must be finite numbers");
        const bool neutral = last_n == 0 || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f);
        add(llama_sampler_init_penalties(n_vocab, last_n, repeat, frequency, presence), "penalties", neutral);
    }
    void add_mirostat(int32_t n_vocab, uint32_t seed, float tau, float eta, int32_t m) {
        use_vocab_size(n_vocab);
        require_arg(std::isfinite(tau) && std::isfinite(eta) && tau > 0.0f && eta > 0.0f,
                "mirostat_tau and mirostat_eta must be > 0");
        add(llama_sampler_init_mirostat(n_vocab, seed, tau, eta, m), "mirostat");
    }
    void add_mirostat_v2(uint32_t seed, float tau, float eta) {
        require_arg(std::isfinite(tau) && std::isfinite(eta) && tau > 0.0f && eta > 0.0f,
                "mirostat_tau and mirostat_eta must be > 0");
        add(llama_sampler_init_mirostat_v2(seed, tau, eta), "mirostat v2");
    }
    void add_logit_bias(int32_t n_vocab, const std::map<llama_token, float> &bias) {
        use_vocab_size(n_vocab);
        std::vector<llama_logit_bias> entries;
        for (const auto &[token, value] : bias) {
            require_arg(token >= 0 && token < n_vocab, "logit_bias token id " + std::to_string(token) +
                                                       " is out of range for a vocabulary of " +
                                                       std::to_string(n_vocab));
            require_arg(!std::isnan(value), "logit_bias for token " + std::to_string(token) + " is NaN");
            entries.push_back({token, value});
        }
        add(llama_sampler_init_logit_bias(n_vocab, static_cast<int32_t>(entries.size()), entries.data()),
            "logit bias", true);
        biases_.insert(biases_.end(), entries.begin(), entries.end());
    }
    void add_grammar(const Model &model, const std::string &grammar, const std::string &root) {
        use_vocab_size(llama_vocab_n_tokens(model.vocab()));
        unsigned long long since = log_capture::mark();
        llama_sampler *s = nullptr;
        {
            py::gil_scoped_release release;
            s = llama_sampler_init_grammar(model.vocab(), grammar.c_str(), root.c_str());
        }
        if (s == nullptr) {
            throw std::invalid_argument(with_llama_log("invalid grammar (root rule '" + root + "')", since));
        }
        add(s, "grammar");
    }

    // Apply the chain to one row of logits and return the selected token;
    // the chain then accepts it (penalties, grammar and mirostat keep state).
    llama_token sample(py::array_t<float, py::array::c_style | py::array::forcecast> logits) {
        require_arg(logits.ndim() == 1, "logits must be a 1-D array of n_vocab values");
        const auto n = static_cast<int32_t>(logits.shape(0));
        require_arg(n > 0, "logits is empty");
        if (n_vocab_ > 0) {
            require_arg(n == n_vocab_, "logits has " + std::to_string(n) + " values but this chain was built for a "
                                   "vocabulary of " + std::to_string(n_vocab_));
        }
        require_arg(llama_sampler_chain_n(chain_.get()) > 0, "the sampler chain is empty: add a sampler first");
        return sample_row(logits.data(), n);
    }

    // Apply the chain to a row of n logits, accept the selected token and return it.
    llama_token sample_row(const float *data, int32_t n) {
        if (fast_greedy_ && ends_in_greedy_) {
            return sample_greedy(data, n);
        }
        candidates_.resize(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) {
            candidates_[i] = llama_token_data{i, data[i], 0.0f};
        }
        llama_token_data_array cur{candidates_.data(), candidates_.size(), -1, false};
        llama_sampler_apply(chain_.get(), &cur);
        if (cur.selected < 0 || static_cast<size_t>(cur.selected) >= cur.size) {
            throw std::invalid_argument(
                "the sampler chain selected no token: end it with a selecting sampler "
                "(greedy, dist or mirostat), or the grammar allows nothing here");
        }
        const llama_token token = cur.data[cur.selected].id;
        llama_sampler_accept(chain_.get(), token);
        return token;
    }

    void accept(llama_token token) {
        require_arg(token >= 0 && (n_vocab_ <= 0 || token < n_vocab_),
                "token id " + std::to_string(token) + " is out of range");
        llama_sampler_accept(chain_.get(), token);
    }
    void reset() { llama_sampler_reset(chain_.get()); }
    int32_t size() const { return llama_sampler_chain_n(chain_.get()); }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (int32_t i = 0; i < size(); ++i) {
            out.emplace_back(llama_sampler_name(llama_sampler_chain_get(chain_.get(), i)));
        }
        return out;
    }
    uint32_t seed() const { return llama_sampler_get_seed(chain_.get()); }

    // Feed earlier tokens (the prompt) to the penalty samplers only, so
    // repeat/frequency/presence penalties see them; the grammar and mirostat
    // state are left alone.
    void prime(const std::vector<llama_token> &tokens) {
        for (int32_t i = 0; i < size(); ++i) {
            llama_sampler *s = llama_sampler_chain_get(chain_.get(), i);
            if (std::string(llama_sampler_name(s)) == "penalties") {
                for (llama_token t : tokens) {
                    llama_sampler_accept(s, t);
                }
            }
        }
    }

    llama_sampler *get() const { return chain_.get(); }

    // Time spent selecting on the greedy fast path; llama.cpp's counters see
    // only the accept that follows (which counts the sample).
    double fast_sample_ms() const { return static_cast<double>(fast_us_) / 1000.0; }
    void reset_fast_perf() { fast_us_ = 0; }
    int32_t vocab_size() const { return n_vocab_; }

private:
    void use_vocab_size(int32_t n_vocab) {
        require_arg(n_vocab > 0, "n_vocab must be > 0, got " + std::to_string(n_vocab));
        require_arg(n_vocab_ <= 0 || n_vocab_ == n_vocab,
                "this chain already uses a vocabulary of " + std::to_string(n_vocab_) + ", not " +
                    std::to_string(n_vocab));
        n_vocab_ = n_vocab;
    }

    // What [logit bias...] -> [neutral penalties] -> greedy selects, without
    // building the n_vocab candidate array: the first index of the largest
    // biased logit, as llama.cpp's greedy sampler picks it. The chain still
    // accepts the token, so its state is what the full path leaves.
    llama_token sample_greedy(const float *data, int32_t n) {
        const int64_t start = ggml_time_us();
        llama_token best = 0;
        if (biases_.empty()) {
            for (int32_t i = 1; i < n; ++i) {
                if (data[i] > data[best]) {
                    best = i;
                }
            }
        } else {
            scores_.assign(data, data + n);
            for (const llama_logit_bias &b : biases_) {
                scores_[static_cast<size_t>(b.token)] += b.bias;
            }
            for (int32_t i = 1; i < n; ++i) {
                if (scores_[static_cast<size_t>(i)] > scores_[static_cast<size_t>(best)]) {
                    best = i;
                }
            }
        }
        fast_us_ += ggml_time_us() - start;
        llama_sampler_accept(chain_.get(), best);  // counted (and timed) by llama.cpp
        return best;
    }

    sampler_ptr chain_;
    std::vector<llama_token_data> candidates_;
    std::vector<float> scores_;
    std::vector<llama_logit_bias> biases_;
    bool fast_greedy_ = true;
    bool ends_in_greedy_ = false;
    int64_t fast_us_ = 0;
    int32_t n_vocab_ = 0;
};

}  // namespace llama_pybind
