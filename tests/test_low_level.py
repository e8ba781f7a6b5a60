"""llama_cpp.llama_cpp, llama-cpp-python's low-level ctypes module: generated from the
pinned llama.h (and kept in step with it), bound to the llama.cpp this package runs, with
struct layouts that match the C compiler's, and usable on Llama's own model and context."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from llama_cpp import Llama

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "ci" / "generate_low_level.py"
GENERATED = REPO / "src" / "llama_cpp" / "llama_cpp.py"
INCLUDE = REPO / "vendor" / "llama.cpp" / "include"
GGML_INCLUDE = REPO / "vendor" / "llama.cpp" / "ggml" / "include"
PROMPT = b"The capital of France is"


@pytest.fixture(scope="module")
def low() -> ModuleType:
    import llama_cpp.llama_cpp

    return llama_cpp.llama_cpp


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    from conftest import load_script

    return load_script("generate_low_level", GENERATOR)


@pytest.fixture(scope="module")
def llm(model_path: Path):
    llm = Llama(str(model_path), n_ctx=256, n_batch=64, n_threads=2, verbose=False)
    yield llm
    llm.close()


def declared_functions() -> set[str]:
    """The LLAMA_API functions of llama.h, read with a plain regex (not the generator)."""
    text = (INCLUDE / "llama.h").read_text(encoding="utf-8")
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    pattern = r"\bLLAMA_API\b(?:\s+DEPRECATED\s*\()?[^;(]*?\b(llama_\w+)\s*\("
    return set(re.findall(pattern, text))


# ---- the generated file -------------------------------------------------------------------


def test_generated_module_matches_the_header(generator: ModuleType) -> None:
    expected = generator.generate(INCLUDE / "llama.h", GGML_INCLUDE)
    assert GENERATED.read_bytes() == expected.encode("utf-8"), (
        "src/llama_cpp/llama_cpp.py is not what llama.h gives: run python ci/generate_low_level.py"
    )


def test_generator_names_a_declaration_it_cannot_translate(
    generator: ModuleType, tmp_path: Path
) -> None:
    header = (INCLUDE / "llama.h").read_text(encoding="utf-8")
    closing = header.rindex("#ifdef __cplusplus")
    weird = "    LLAMA_API void llama_weird(int (*callback)(int));\n"
    broken = tmp_path / "llama.h"
    broken.write_text(header[:closing] + weird + header[closing:], encoding="utf-8")
    line = header[:closing].count("\n") + 1
    with pytest.raises(generator.HeaderError, match=rf"llama\.h:{line}: .*\n.*llama_weird"):
        generator.generate(broken, GGML_INCLUDE)


def test_generator_names_an_unknown_type(generator: ModuleType, tmp_path: Path) -> None:
    header = (INCLUDE / "llama.h").read_text(encoding="utf-8")
    closing = header.rindex("#ifdef __cplusplus")
    broken = tmp_path / "llama.h"
    unknown = "    LLAMA_API mystery_t llama_mystery(void);\n"
    broken.write_text(header[:closing] + unknown + header[closing:], encoding="utf-8")
    with pytest.raises(generator.HeaderError, match="an unknown type: mystery_t"):
        generator.generate(broken, GGML_INCLUDE)


def test_every_declared_function_is_bound_or_listed(low: ModuleType) -> None:
    declared = declared_functions()
    assert len(declared) > 200
    bound = {name for name, value in vars(low).items() if isinstance(value, low._lib._FuncPtr)}
    unbound = set(low.UNBOUND_FUNCTIONS)
    skipped = set(low.SKIPPED_FUNCTIONS)
    assert bound | unbound | skipped == declared
    assert not bound & unbound and not (bound | unbound) & skipped
    for name in unbound:
        assert not hasattr(low._lib, name)
        with pytest.raises(NotImplementedError, match=rf"{name} is declared in llama\.h"):
            getattr(low, name)()
    assert low.llama_tokenize.argtypes is not None and len(low.llama_tokenize.argtypes) == 7


def test_deprecated_functions_are_bound(low: ModuleType) -> None:
    assert low.DEPRECATED_FUNCTIONS["llama_n_vocab"] == "use llama_vocab_n_tokens instead"
    assert "llama_n_vocab" not in low.UNBOUND_FUNCTIONS
    assert low.llama_n_vocab.argtypes == (low.llama_vocab_p_ctypes,)


def test_names_llama_cpp_python_code_imports(low: ModuleType) -> None:
    assert low.LLAMA_DEFAULT_SEED == 0xFFFFFFFF
    assert low.LLAMA_TOKEN_NULL == -1
    assert low.LLAMA_SESSION_MAGIC == low.LLAMA_FILE_MAGIC_GGSN == 0x6767736E
    assert low.LLAMA_STATE_SEQ_MAGIC == low.LLAMA_FILE_MAGIC_GGSQ
    assert low.LLAMA_TOKEN_ATTR_CONTROL == 1 << 3
    assert low.LLAMA_ROPE_TYPE_NEOX == low.GGML_ROPE_TYPE_NEOX == 2
    assert low.LLAMA_FTYPE_MOSTLY_Q4_K_M == 15
    assert low.GGML_TYPE_F16 == 1 and low.GGML_LOG_LEVEL_ERROR == 4
    assert low.LLAMA_MAX_DEVICES >= 1
    assert low.llama_token is ctypes.c_int32 and low.llama_pos is ctypes.c_int32
    assert low.llama_token_p == ctypes.POINTER(ctypes.c_int32)
    for handle in ("llama_model", "llama_context", "llama_vocab", "llama_adapter_lora"):
        assert getattr(low, f"{handle}_p_ctypes") is ctypes.c_void_p
        assert getattr(low, f"{handle}_p")(5) == 5  # a NewType of int, for annotations
    assert low.llama_memory_t_ctypes is ctypes.c_void_p
    assert low.llama_sampler_p is low.llama_sampler_p_ctypes
    assert low.llama_batch_p == ctypes.POINTER(low.llama_batch)
    assert low.llama_token_data_array_p == ctypes.POINTER(low.llama_token_data_array)
    assert low.llama_log_callback is low.ggml_log_callback
    for callback in ("llama_progress_callback", "ggml_abort_callback", "llama_sampler_i_apply"):
        assert issubclass(getattr(low, callback), ctypes._CFuncPtr)


def test_hand_written_constants_agree_with_the_header(low: ModuleType) -> None:
    from llama_cpp import _constants

    shared = [name for name in vars(_constants) if name.isupper() and hasattr(low, name)]
    assert len(shared) > 20
    for name in shared:
        assert getattr(low, name) == getattr(_constants, name), name


def test_importing_llama_cpp_leaves_the_low_level_module_out() -> None:
    code = "import sys, llama_cpp; print('llama_cpp.llama_cpp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_binds_the_library_already_loaded(low: ModuleType) -> None:
    from llama_cpp import _loader

    lib_dir = _loader.backend_directory()
    library = Path(low._lib._name).resolve()
    if lib_dir is None:  # native build: llama.cpp is inside the compiled module
        assert library == Path(str(_loader.load_core().__file__)).resolve()
    else:
        assert library.parent == lib_dir.resolve() and "llama" in library.name
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(library) in maps.read_text()


# ---- struct layouts -------------------------------------------------------------------------


def c_layout_program(low: ModuleType) -> tuple[str, dict[str, int]]:
    """A C program printing sizeof/alignof of each struct and the offset of each field, and
    the numbers ctypes has for the same."""
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "llama.h"', "int main(void) {"]
    expected: dict[str, int] = {}
    for name, struct in sorted(vars(low).items()):
        if not (isinstance(struct, type) and issubclass(struct, ctypes.Structure)):
            continue
        lines.append(f'printf("{name} %zu\\n", sizeof(struct {name}));')
        lines.append(f'printf("{name}/align %zu\\n", _Alignof(struct {name}));')
        expected[name] = ctypes.sizeof(struct)
        expected[f"{name}/align"] = ctypes.alignment(struct)
        anonymous = getattr(struct, "_anonymous_", ())
        for field_name, field_type, *_ in struct._fields_:
            members = [field_name]
            if field_name in anonymous:
                members = [member for member, *_ in field_type._fields_]
            for member in members:
                lines.append(
                    f'printf("{name}.{member} %zu\\n", offsetof(struct {name}, {member}));'
                )
                expected[f"{name}.{member}"] = getattr(struct, member).offset
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n", expected


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")
def test_struct_layouts_match_the_c_compiler(low: ModuleType, tmp_path: Path) -> None:
    source, expected = c_layout_program(low)
    assert "llama_context_params.ctx_other" in expected
    assert "llama_model_kv_override.val_str" in expected
    (tmp_path / "layout.c").write_text(source, encoding="utf-8")
    program = tmp_path / "layout"
    subprocess.run(
        ["cc", "-std=c11", f"-I{INCLUDE}", f"-I{GGML_INCLUDE}", "layout.c", "-o", str(program)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    output = subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout
    actual = {key: int(value) for key, value in (line.split() for line in output.splitlines())}
    assert actual == expected


def test_default_params_come_back_by_value(low: ModuleType) -> None:
    # Read after the fields a wrong layout would shift, these would be garbage.
    context = low.llama_context_default_params()
    assert isinstance(context, low.llama_context_params)
    assert (context.n_ctx, context.n_batch, context.n_ubatch, context.n_seq_max) == (
        512,
        2048,
        512,
        1,
    )
    assert context.rope_scaling_type == low.LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED
    assert context.flash_attn_type == low.LLAMA_FLASH_ATTN_TYPE_AUTO
    assert context.yarn_ext_factor == -1.0 and context.defrag_thold == -1.0
    assert context.type_k == context.type_v == low.GGML_TYPE_F16
    assert not context.cb_eval and not context.abort_callback
    flags = ("embeddings", "offload_kqv", "no_perf", "op_offload", "swa_full", "kv_unified")
    assert [getattr(context, f) for f in flags] == [False, True, True, True, True, False]
    assert not context.samplers and context.n_samplers == 0 and context.ctx_other is None

    model = low.llama_model_default_params()
    assert (model.n_gpu_layers, model.split_mode, model.main_gpu) == (
        -1,
        low.LLAMA_SPLIT_MODE_LAYER,
        0,
    )
    assert model.load_mode == low.LLAMA_LOAD_MODE_AUTO
    assert model.lazy_mode == low.LLAMA_LAZY_MODE_AUTO
    flags = ("vocab_only", "check_tensors", "use_extra_bufts", "no_host", "no_alloc", "load_mtp")
    assert [getattr(model, f) for f in flags] == [False, False, True, False, False, False]
    assert not model.kv_overrides and not model.progress_callback

    assert low.llama_sampler_chain_default_params().no_perf is True


def test_chat_template_through_a_struct_array(low: ModuleType) -> None:
    messages = (low.llama_chat_message * 2)(
        low.llama_chat_message(b"system", b"Be brief."), low.llama_chat_message(b"user", b"Hi")
    )
    buffer = ctypes.create_string_buffer(256)
    n = low.llama_chat_apply_template(b"chatml", messages, 2, True, buffer, len(buffer))
    assert buffer.raw[:n] == (
        b"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        b"<|im_start|>assistant\n"
    )


# ---- a low-level session on Llama's model and context ---------------------------------------


@pytest.mark.slow
def test_low_level_session_on_llamas_objects(low: ModuleType, llm: Llama) -> None:
    ctx = llm.ctx
    vocab = low.llama_model_get_vocab(llm.model)
    assert isinstance(vocab, int)
    assert low.llama_n_ctx(ctx) == llm.n_ctx() == 256
    assert low.llama_model_n_embd(llm.model) == llm.n_embd()
    n_vocab = low.llama_vocab_n_tokens(vocab)
    assert n_vocab == llm.n_vocab()

    capacity = len(PROMPT) + 8
    tokens = (low.llama_token * capacity)()
    n = low.llama_tokenize(vocab, PROMPT, len(PROMPT), tokens, capacity, True, False)
    assert n > 0 and list(tokens[:n]) == llm.tokenize(PROMPT)

    batch = low.llama_batch_init(n, 0, 1)
    try:
        for i in range(n):
            batch.token[i] = tokens[i]
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = int(i == n - 1)
        batch.n_tokens = n
        assert low.llama_decode(ctx, batch) == 0
    finally:
        low.llama_batch_free(batch)
    logits = np.ctypeslib.as_array(low.llama_get_logits(ctx), shape=(n_vocab,)).copy()
    predicted = int(np.argmax(logits))

    chain = low.llama_sampler_chain_init(low.llama_sampler_chain_default_params())
    low.llama_sampler_chain_add(chain, low.llama_sampler_init_greedy())
    assert low.llama_sampler_sample(chain, ctx, -1) == predicted
    low.llama_sampler_free(chain)

    piece = ctypes.create_string_buffer(64)
    length = low.llama_token_to_piece(vocab, predicted, piece, len(piece), 0, False)
    assert length > 0 and piece.raw[:length] == llm.model.token_to_piece(predicted)

    memory = low.llama_get_memory(ctx)
    assert low.llama_memory_seq_pos_max(memory, 0) == n - 1
    assert low.llama_memory_seq_rm(memory, 0, -1, -1)
    assert low.llama_memory_seq_pos_max(memory, 0) == -1

    # the same prompt through the high-level API (the memory is empty again)
    llm.eval(llm.tokenize(PROMPT))
    np.testing.assert_allclose(llm.ctx.logits(), logits, rtol=0, atol=1e-3)
    completion = llm.create_completion(
        PROMPT.decode(), max_tokens=1, temperature=0.0, top_k=1, repeat_penalty=1.0
    )
    assert completion["choices"][0]["text"].encode() == piece.raw[:length]


CLOSED_SCRIPT = """
import ctypes, sys
from llama_cpp import Llama
import llama_cpp.llama_cpp as low

llm = Llama(sys.argv[1], n_ctx=64, n_threads=1, verbose=False)
model, ctx = llm.model, llm.ctx
llm.close()
for function, handle in ((low.llama_n_ctx, ctx), (low.llama_model_n_embd, model)):
    try:
        function(handle)
    except ctypes.ArgumentError as error:
        print("ArgumentError:", error)
    else:
        print("no error")
try:
    low.llama_n_ctx(llm.ctx)
except ValueError as error:
    print("ValueError:", error)
"""


def test_closed_objects_raise_instead_of_crashing(model_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLOSED_SCRIPT, str(model_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    context_line, model_line, llama_line = done.stdout.strip().splitlines()
    assert context_line.startswith("ArgumentError: argument 1: ")
    assert model_line.startswith("ArgumentError: argument 1: ")
    if sys.version_info >= (3, 11):  # older ctypes replace the reason with "wrong type"
        assert "this context is closed" in context_line and "new context" in context_line
        assert "this model is closed" in model_line and "load the model again" in model_line
    assert llama_line.startswith("ValueError: this Llama is closed")
