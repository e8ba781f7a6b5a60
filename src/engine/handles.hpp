// Owning handles for llama.cpp objects shared between binding areas.
//
// A Python Model or Context may be closed explicitly while another object
// still needs the underlying llama.cpp object (a context needs its model):
// ownership is shared, and the llama.cpp object is freed when its last
// user lets go.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "errors.hpp"
#include "llama.h"
#include "remote.hpp"

namespace llama_pybind {

// Hand the memory llama.cpp has just freed back to the system. glibc keeps large freed
// blocks in its heap (its mmap threshold grows as big buffers are freed), so a process
// that loads and closes models or contexts would otherwise grow with each one.
void return_freed_memory();

struct model_owner {
    explicit model_owner(llama_model *m, std::vector<std::string> endpoints = {})
        : model(m), endpoints(std::move(endpoints)), remote(!this->endpoints.empty()) {}
    ~model_owner() {
        if (remote && remote::lost()) {
            return;  // its buffers live on RPC workers, one of them unreachable: never freed
        }
        llama_model_free(model);
        return_freed_memory();
    }
    model_owner(const model_owner &) = delete;
    model_owner &operator=(const model_owner &) = delete;
    llama_model *model;
    std::vector<std::string> endpoints;  // the RPC workers (host:port) its devices are on
    bool remote;                         // layers or buffers on RPC workers (see remote.hpp)
};

class Model {
public:
    Model(std::shared_ptr<model_owner> owner, std::string path)
        : owner_(std::move(owner)), path_(std::move(path)) {}

    const std::shared_ptr<model_owner> &owner() const {
        if (!owner_) {
            throw closed_object("the model '" + path_ + "' is closed; load it again to use it");
        }
        return owner_;
    }
    llama_model *get() const {
        const std::shared_ptr<model_owner> &o = owner();
        if (o->remote && remote::lost()) {
            throw llama_error("the model '" + path_ + "' has layers on RPC workers and a worker "
                              "connection broke (" + remote::lost_reason() + "; " +
                              remote::describe_workers(o->endpoints) +
                              "); restart this process and load the model again");
        }
        return o->model;
    }
    const llama_vocab *vocab() const { return llama_model_get_vocab(get()); }
    const std::string &path() const { return path_; }
    bool closed() const { return !owner_; }
    void close() { owner_.reset(); }

private:
    std::shared_ptr<model_owner> owner_;
    std::string path_;
};

// Raise ValueError unless 0 <= token < n_vocab.
void check_token(const llama_vocab *vocab, llama_token token);

// The bytes of one token (special: render control tokens too).
std::string token_piece(const llama_vocab *vocab, llama_token token, bool special);

}  // namespace llama_pybind

namespace llama_pybind {

// A LoRA adapter loaded for a model; it keeps the model alive, and is freed
// with the model (llama.cpp frees adapters when their model goes).
struct LoraAdapter {
    LoraAdapter(std::shared_ptr<model_owner> model, llama_adapter_lora *adapter, std::string path)
        : model(std::move(model)), adapter(adapter), path(std::move(path)) {}
    std::shared_ptr<model_owner> model;
    llama_adapter_lora *adapter;
    std::string path;
};

}  // namespace llama_pybind
