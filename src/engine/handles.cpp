#include "handles.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace llama_pybind {

void return_freed_memory() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

std::string token_piece(const llama_vocab *vocab, llama_token token, bool special) {
    check_token(vocab, token);
    std::string piece(32, '\0');
    int32_t n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
    if (n < 0) {
        piece.resize(static_cast<size_t>(-n));
        n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
    }
    piece.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return piece;
}

void check_token(const llama_vocab *vocab, llama_token token) {
    int32_t n_vocab = llama_vocab_n_tokens(vocab);
    if (token < 0 || token >= n_vocab) {
        throw std::invalid_argument("token id " + std::to_string(token) + " is out of range: this model's vocabulary has " +
                                    std::to_string(n_vocab) + " tokens (valid ids 0.." + std::to_string(n_vocab - 1) + ")");
    }
}

}  // namespace llama_pybind
