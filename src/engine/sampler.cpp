#include "sampler.hpp"

#include <cmath>

#include "errors.hpp"
#include "log_capture.hpp"
#include <pybind11/pybind11.h>

namespace llama_pybind {

namespace py = pybind11;

void require_arg(bool ok, const std::string &message) {
    if (!ok) {
        throw std::invalid_argument(message);
    }
}

void require_probability(float p, const char *name) {
    require_arg(std::isfinite(p) && p >= 0.0f && p <= 1.0f,
            std::string(name) + " must be a number in [0, 1], got " + std::to_string(p));
}

void SamplerChain::add(llama_sampler *s, const std::string &what, bool greedy_path) {
    if (s == nullptr) {
        throw llama_error("llama.cpp could not create the " + what + " sampler");
    }
    llama_sampler_chain_add(chain_.get(), s);  // the chain owns it from here
    fast_greedy_ = greedy_path && !ends_in_greedy_ && fast_greedy_;
    ends_in_greedy_ = false;
}

void SamplerChain::add_greedy() {
    add(llama_sampler_init_greedy(), "greedy", true);
    ends_in_greedy_ = true;
}

void SamplerChain::add_dist(uint32_t seed) { add(llama_sampler_init_dist(seed), "dist"); }

void SamplerChain::add_top_k(int32_t k) { add(llama_sampler_init_top_k(k), "top-k"); }

void SamplerChain::add_top_p(float p, size_t min_keep) {
    require_probability(p, "top_p");
    add(llama_sampler_init_top_p(p, min_keep), "top-p");
}

void SamplerChain::add_min_p(float p, size_t min_keep) {
    require_probability(p, "min_p");
    add(llama_sampler_init_min_p(p, min_keep), "min-p");
}

void SamplerChain::add_typical(float p, size_t min_keep) {
    require_probability(p, "typical_p");
    add(llama_sampler_init_typical(p, min_keep), "typical");
}

void SamplerChain::add_temp(float t) {
    require_arg(std::isfinite(t) && t >= 0.0f,
            "temperature must be a finite number >= 0 (0 = greedy), got " + std::to_string(t));
    add(llama_sampler_init_temp(t), "temperature");
}

void SamplerChain::add_penalties(int32_t n_vocab, int32_t last_n, float repeat, float frequency, float presence) {
    use_vocab_size(n_vocab);
    require_arg(last_n >= 0, "penalty_last_n must be >= 0 (0 = off), got " + std::to_string(last_n));
    require_arg(std::isfinite(repeat) && repeat > 0.0f,
            "repeat_penalty must be > 0 (1 = off), got " + std::to_string(repeat));
    require_arg(std::isfinite(frequency) && std::isfinite(presence),
            "frequency_penalty and presence_penalty must be finite numbers");
    const bool neutral = last_n == 0 || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f);
    add(llama_sampler_init_penalties(n_vocab, last_n, repeat, frequency, presence), "penalties", neutral);
}

void SamplerChain::add_mirostat(int32_t n_vocab, uint32_t seed, float tau, float eta, int32_t m) {
    use_vocab_size(n_vocab);
    require_arg(std::isfinite(tau) && std::isfinite(eta) && tau > 0.0f && eta > 0.0f,
            "mirostat_tau and mirostat_eta must be > 0");
    add(llama_sampler_init_mirostat(n_vocab, seed, tau, eta, m), "mirostat");
}

void SamplerChain::add_mirostat_v2(uint32_t seed, float tau, float eta) {
    require_arg(std::isfinite(tau) && std::isfinite(eta) && tau > 0.0f && eta > 0.0f,
            "mirostat_tau and mirostat_eta must be > 0");
    add(llama_sampler_init_mirostat_v2(seed, tau, eta), "mirostat v2");
}

void SamplerChain::add_logit_bias(int32_t n_vocab, const std::map<llama_token, float> &bias) {
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

void SamplerChain::add_grammar(const Model &model, const std::string &grammar, const std::string &root) {
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

llama_token SamplerChain::sample(const float *logits, int32_t n) {
    require_arg(n > 0, "logits is empty");
    if (n_vocab_ > 0) {
        require_arg(n == n_vocab_, "logits has " + std::to_string(n) + " values but this chain was built for a "
                               "vocabulary of " + std::to_string(n_vocab_));
    }
    require_arg(llama_sampler_chain_n(chain_.get()) > 0, "the sampler chain is empty: add a sampler first");
    return sample_row(logits, n);
}

llama_token SamplerChain::sample_row(const float *data, int32_t n) {
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

void SamplerChain::accept(llama_token token) {
    require_arg(token >= 0 && (n_vocab_ <= 0 || token < n_vocab_),
            "token id " + std::to_string(token) + " is out of range");
    llama_sampler_accept(chain_.get(), token);
}

std::vector<std::string> SamplerChain::names() const {
    std::vector<std::string> out;
    for (int32_t i = 0; i < size(); ++i) {
        out.emplace_back(llama_sampler_name(llama_sampler_chain_get(chain_.get(), i)));
    }
    return out;
}

void SamplerChain::prime(const std::vector<llama_token> &tokens) {
    for (int32_t i = 0; i < size(); ++i) {
        llama_sampler *s = llama_sampler_chain_get(chain_.get(), i);
        if (std::string(llama_sampler_name(s)) == "penalties") {
            for (llama_token t : tokens) {
                llama_sampler_accept(s, t);
            }
        }
    }
}

void SamplerChain::use_vocab_size(int32_t n_vocab) {
    require_arg(n_vocab > 0, "n_vocab must be > 0, got " + std::to_string(n_vocab));
    require_arg(n_vocab_ <= 0 || n_vocab_ == n_vocab,
            "this chain already uses a vocabulary of " + std::to_string(n_vocab_) + ", not " +
                std::to_string(n_vocab));
    n_vocab_ = n_vocab;
}

llama_token SamplerChain::sample_greedy(const float *data, int32_t n) {
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

}  // namespace llama_pybind
