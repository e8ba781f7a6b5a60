// The SamplerChain handle: a llama.cpp sampler chain (llama_sampler_chain_*),
// built step by step from Python; shared by the sampler and generation areas.
//
// Sampling one row is short, so the chain is used with the GIL held when
// called from Python; the generation engine uses it with the GIL released,
// under the context's lock. (sampler.cpp releases the GIL itself while a
// grammar is parsed, between two changes to the chain.)
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "handles.hpp"

namespace llama_pybind {

struct sampler_deleter {
    void operator()(llama_sampler *s) const { llama_sampler_free(s); }
};
using sampler_ptr = std::unique_ptr<llama_sampler, sampler_deleter>;

// std::invalid_argument (ValueError) with `message` unless `ok`.
void require_arg(bool ok, const std::string &message);

// std::invalid_argument unless `p` is a number in [0, 1]; `name` names it.
void require_probability(float p, const char *name);

class SamplerChain {
public:
    SamplerChain() : chain_(llama_sampler_chain_init(llama_sampler_chain_default_params())) {}

    // `greedy_path`: the sampler is one the greedy fast path reproduces
    // (logit bias, neutral penalties, greedy itself).
    void add(llama_sampler *s, const std::string &what, bool greedy_path = false);

    void add_greedy();
    void add_dist(uint32_t seed);
    void add_top_k(int32_t k);
    void add_top_p(float p, size_t min_keep);
    void add_min_p(float p, size_t min_keep);
    void add_typical(float p, size_t min_keep);
    void add_temp(float t);
    void add_penalties(int32_t n_vocab, int32_t last_n, float repeat, float frequency, float presence);
    void add_mirostat(int32_t n_vocab, uint32_t seed, float tau, float eta, int32_t m);
    void add_mirostat_v2(uint32_t seed, float tau, float eta);
    void add_logit_bias(int32_t n_vocab, const std::map<llama_token, float> &bias);
    // Called with the GIL held: it is released while llama.cpp parses the grammar.
    void add_grammar(const Model &model, const std::string &grammar, const std::string &root);

    // Apply the chain to one row of logits and return the selected token;
    // the chain then accepts it (penalties, grammar and mirostat keep state).
    llama_token sample(const float *logits, int32_t n);

    // Apply the chain to a row of n logits, accept the selected token and return it.
    llama_token sample_row(const float *data, int32_t n);

    void accept(llama_token token);
    void reset() { llama_sampler_reset(chain_.get()); }
    int32_t size() const { return llama_sampler_chain_n(chain_.get()); }
    std::vector<std::string> names() const;
    uint32_t seed() const { return llama_sampler_get_seed(chain_.get()); }

    // Feed earlier tokens (the prompt) to the penalty samplers only, so
    // repeat/frequency/presence penalties see them; the grammar and mirostat
    // state are left alone.
    void prime(const std::vector<llama_token> &tokens);

    llama_sampler *get() const { return chain_.get(); }

    // Time spent selecting on the greedy fast path; llama.cpp's counters see
    // only the accept that follows (which counts the sample).
    double fast_sample_ms() const { return static_cast<double>(fast_us_) / 1000.0; }
    void reset_fast_perf() { fast_us_ = 0; }
    int32_t vocab_size() const { return n_vocab_; }

private:
    void use_vocab_size(int32_t n_vocab);

    // What [logit bias...] -> [neutral penalties] -> greedy selects, without
    // building the n_vocab candidate array: the first index of the largest
    // biased logit, as llama.cpp's greedy sampler picks it. The chain still
    // accepts the token, so its state is what the full path leaves.
    llama_token sample_greedy(const float *data, int32_t n);

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
