# CUDA: which toolkit the build uses, and for which GPUs it compiles.
#
# LLAMA_PYBIND_CUDA_TOOLKIT chooses the toolkit:
#   auto   (default) a complete toolkit on this machine (nvcc, the CUDA runtime and cuBLAS,
#          found the way users expect: CMAKE_CUDA_COMPILER, CUDACXX, CUDAToolkit_ROOT,
#          CUDA_PATH, PATH, the usual install folders); otherwise NVIDIA's toolkit packages
#          from the package index (pip install puts them into the build environment:
#          build_backend/backend.py);
#   system only a toolkit on this machine;
#   pip    only NVIDIA's packages (the tested set in src/llama_cpp/cuda_toolkits.json).
# LLAMA_PYBIND_CUDA_MAJOR (e.g. 12) asks for one CUDA major version: a toolkit here of
# another one is passed over, and the pip toolkit is that major's set.
# NVIDIA's packages are laid out as a toolkit by build_backend/cuda_toolkit.py (a folder of
# links in the build tree, with a link-time stand-in for the driver's libcuda.so).
#
# CMAKE_CUDA_ARCHITECTURES: the user's value, checked against what this nvcc accepts;
# unset, ggml's choice ("native") when a GPU is visible, and the table's list for every
# GPU from Turing on when none is ("native" cannot work then).
#
# Runs after LegacyFlags.cmake and find_package(Python), before add_subdirectory(llama.cpp).

include_guard(GLOBAL)

include("${CMAKE_CURRENT_LIST_DIR}/Fail.cmake")

set(LLAMA_PYBIND_CUDA_TOOLKIT "auto" CACHE STRING
    "CUDA toolkit: auto (this machine's if complete, else NVIDIA's pip packages), system, pip")
set_property(CACHE LLAMA_PYBIND_CUDA_TOOLKIT PROPERTY STRINGS auto system pip)
set(LLAMA_PYBIND_CUDA_MAJOR "" CACHE STRING
    "CUDA major version the build must use (e.g. 12): a toolkit here of another major is passed over; empty: any (the pip toolkit's default)")
set(LLAMA_PYBIND_CUDA_SEARCH_PATHS "/usr/local/cuda/bin;/opt/cuda/bin" CACHE STRING
    "folders searched for nvcc after CUDACXX, CUDAToolkit_ROOT, CUDA_PATH and PATH")

set(_LLAMA_PYBIND_CUDA_HELPER "${CMAKE_CURRENT_LIST_DIR}/../build_backend/cuda_toolkit.py")
set(_LLAMA_PYBIND_CUDA_TABLE "${CMAKE_CURRENT_LIST_DIR}/../src/llama_cpp/cuda_toolkits.json")

# Run build_backend/cuda_toolkit.py with ARGN; its KEY=VALUE lines become variables.
function(_llama_pybind_cuda_helper)
    execute_process(COMMAND "${Python_EXECUTABLE}" "${_LLAMA_PYBIND_CUDA_HELPER}" ${ARGN}
        OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        llama_pybind_fail("GGML_CUDA=ON: build_backend/cuda_toolkit.py ${ARGN} failed:\n${err}${out}")
    endif()
    string(REGEX MATCHALL "[A-Z_]+=[^\n]*" lines "${out}")
    foreach(line IN LISTS lines)
        string(FIND "${line}" "=" eq)
        string(SUBSTRING "${line}" 0 ${eq} key)
        math(EXPR eq "${eq} + 1")
        string(SUBSTRING "${line}" ${eq} -1 value)
        set(${key} "${value}" PARENT_SCOPE)
    endforeach()
endfunction()

# nvcc the way users expect; an explicitly named compiler that does not exist stops here.
# (CMAKE_CUDA_COMPILER and CUDAToolkit_ROOT as this file set them in an earlier configure of
# the same build tree are not the user's: the search is made again.)
function(_llama_pybind_find_nvcc out_nvcc out_searched)
    if(CMAKE_CUDA_COMPILER STREQUAL "${_LLAMA_PYBIND_CUDA_CHOSEN_COMPILER}")
        set(CMAKE_CUDA_COMPILER "")
    endif()
    if(CUDAToolkit_ROOT STREQUAL "${_LLAMA_PYBIND_CUDA_CHOSEN_ROOT}")
        set(CUDAToolkit_ROOT "")
    endif()
    if(CMAKE_CUDA_COMPILER)
        if(NOT EXISTS "${CMAKE_CUDA_COMPILER}")
            llama_pybind_fail("CMAKE_CUDA_COMPILER=${CMAKE_CUDA_COMPILER} does not exist."
                "\nFix: point it at nvcc (e.g. /usr/local/cuda/bin/nvcc) or leave it unset.")
        endif()
        set(${out_nvcc} "${CMAKE_CUDA_COMPILER}" PARENT_SCOPE)
        return()
    endif()
    if(DEFINED ENV{CUDACXX} AND NOT "$ENV{CUDACXX}" STREQUAL "")
        if(NOT EXISTS "$ENV{CUDACXX}")
            llama_pybind_fail("GGML_CUDA=ON and CUDACXX=$ENV{CUDACXX}, but that file does not exist."
                "\nFix: set CUDACXX to the toolkit's nvcc (e.g. CUDACXX=/usr/local/cuda/bin/nvcc) "
                "or unset it.")
        endif()
        set(${out_nvcc} "$ENV{CUDACXX}" PARENT_SCOPE)
        return()
    endif()
    set(roots "")
    set(searched "CUDACXX (unset)")
    foreach(root_var CUDAToolkit_ROOT CUDA_PATH)
        set(root "")
        if(DEFINED ${root_var})
            set(root "${${root_var}}")
        elseif(DEFINED ENV{${root_var}})
            set(root "$ENV{${root_var}}")
        endif()
        if(NOT root STREQUAL "")
            list(APPEND roots "${root}/bin")
            list(APPEND searched "${root_var}=${root} (${root}/bin)")
        endif()
    endforeach()
    set(hints ${roots} ${LLAMA_PYBIND_CUDA_SEARCH_PATHS})
    if(WIN32)
        file(GLOB win_cuda "$ENV{ProgramFiles}/NVIDIA GPU Computing Toolkit/CUDA/*/bin")
        list(APPEND hints ${win_cuda})
    endif()
    find_program(nvcc NAMES nvcc HINTS ${roots} PATHS ${hints} NO_CACHE)
    list(APPEND searched "PATH" ${LLAMA_PYBIND_CUDA_SEARCH_PATHS})
    list(JOIN searched ", " searched)
    set(${out_searched} "${searched}" PARENT_SCOPE)
    if(nvcc)
        set(${out_nvcc} "${nvcc}" PARENT_SCOPE)
    else()
        set(${out_nvcc} "" PARENT_SCOPE)
    endif()
endfunction()

function(_llama_pybind_cuda_fixes out)
    file(READ "${_LLAMA_PYBIND_CUDA_TABLE}" table)
    string(JSON major GET "${table}" default_major)
    if(LLAMA_PYBIND_CUDA_MAJOR)
        set(major "${LLAMA_PYBIND_CUDA_MAJOR}")
    endif()
    string(JSON count ERROR_VARIABLE unknown LENGTH "${table}" toolkits ${major} build)
    if(unknown OR count EQUAL 0)
        string(JSON why ERROR_VARIABLE unknown GET "${table}" toolkits ${major} no_pip_build)
        if(unknown)
            set(why "no CUDA ${major} toolkit packages are known to this build")
        endif()
        set(${out}
            "\nFix: install a CUDA ${major} toolkit, e.g. NVIDIA's "
            "`sudo apt-get install cuda-toolkit-${major}`, or `conda install -c nvidia "
            "cuda-toolkit=${major}`, then put its bin/ on PATH or pass "
            "-DCUDAToolkit_ROOT=/path/to/cuda (${why}); or drop LLAMA_PYBIND_CUDA_MAJOR to build "
            "with CUDA from the package index." PARENT_SCOPE)
        return()
    endif()
    set(packages "")
    math(EXPR last "${count} - 1")
    foreach(i RANGE ${last})
        string(JSON package GET "${table}" toolkits ${major} build ${i})
        list(APPEND packages "\"${package}\"")
    endforeach()
    list(JOIN packages " " packages)
    set(${out}
        "\nFix, one of:"
        "\n  - build with pip and its default build isolation (`pip install .`, not "
        "--no-build-isolation): on Linux the build then takes NVIDIA's CUDA toolkit packages "
        "from the package index into its build environment, installing nothing on the system "
        "(-DLLAMA_PYBIND_CUDA_TOOLKIT=pip forces that route; running needs an NVIDIA driver)"
        "\n  - or install those packages for ${Python_EXECUTABLE} yourself: "
        "pip install ${packages}"
        "\n  - or install the CUDA toolkit (not only the driver), e.g. NVIDIA's "
        "`sudo apt-get install cuda-toolkit-${major}`, or `conda install -c nvidia cuda-toolkit`, "
        "then put its bin/ on PATH, set CUDACXX=/path/to/cuda/bin/nvcc or pass "
        "-DCUDAToolkit_ROOT=/path/to/cuda."
        "\nWithout an NVIDIA GPU, drop -DGGML_CUDA=ON." PARENT_SCOPE)
endfunction()

function(llama_pybind_setup_cuda)
    if(NOT GGML_CUDA)
        return()
    endif()
    if(NOT LLAMA_PYBIND_CUDA_TOOLKIT MATCHES "^(auto|system|pip)$")
        llama_pybind_fail("LLAMA_PYBIND_CUDA_TOOLKIT=${LLAMA_PYBIND_CUDA_TOOLKIT} is not a choice; "
            "use auto (the default: this machine's toolkit if complete, else NVIDIA's packages "
            "from the package index), system or pip.")
    endif()
    file(READ "${_LLAMA_PYBIND_CUDA_TABLE}" table)
    set(reason "")
    if(NOT LLAMA_PYBIND_CUDA_TOOLKIT STREQUAL "pip")
        _llama_pybind_find_nvcc(nvcc searched)
        if(nvcc)
            _llama_pybind_cuda_helper(check --nvcc "${nvcc}")
            string(REGEX MATCH "^[0-9]+" system_major "${CUDA_SYSTEM_VERSION}")
            if(LLAMA_PYBIND_CUDA_MAJOR AND NOT system_major STREQUAL LLAMA_PYBIND_CUDA_MAJOR)
                set(reason "the CUDA toolkit at ${CUDA_SYSTEM_ROOT} is ${CUDA_SYSTEM_VERSION}, not "
                           "the CUDA ${LLAMA_PYBIND_CUDA_MAJOR} LLAMA_PYBIND_CUDA_MAJOR asks for")
            elseif(CUDA_SYSTEM_MISSING STREQUAL "")
                _llama_pybind_use_cuda("${nvcc}" "${CUDA_SYSTEM_ROOT}" "${CUDA_SYSTEM_VERSION}" system)
                return()
            else()
                set(reason "the CUDA toolkit ${CUDA_SYSTEM_VERSION} at ${CUDA_SYSTEM_ROOT} (nvcc "
                           "${nvcc}) lacks ${CUDA_SYSTEM_MISSING}, which ggml links against")
            endif()
        else()
            set(reason "no CUDA toolkit (nvcc) was found. Searched: ${searched}")
        endif()
        string(REPLACE ";" "" reason "${reason}")
        if(LLAMA_PYBIND_CUDA_TOOLKIT STREQUAL "system")
            _llama_pybind_cuda_fixes(fixes)
            llama_pybind_fail("GGML_CUDA=ON with LLAMA_PYBIND_CUDA_TOOLKIT=system, but ${reason}."
                ${fixes})
        endif()
    else()
        set(reason "LLAMA_PYBIND_CUDA_TOOLKIT=pip")
    endif()
    set(major_args "")
    if(LLAMA_PYBIND_CUDA_MAJOR)
        set(major_args --major "${LLAMA_PYBIND_CUDA_MAJOR}")
    endif()
    if(LLAMA_PYBIND_CUDA_MAJOR)
        string(JSON count ERROR_VARIABLE unknown LENGTH "${table}" toolkits ${LLAMA_PYBIND_CUDA_MAJOR} build)
        if(unknown OR count EQUAL 0)
            _llama_pybind_cuda_fixes(fixes)
            llama_pybind_fail("GGML_CUDA=ON with LLAMA_PYBIND_CUDA_MAJOR=${LLAMA_PYBIND_CUDA_MAJOR}, "
                "but ${reason}, and the package index has no CUDA ${LLAMA_PYBIND_CUDA_MAJOR} "
                "compiler to take instead." ${fixes})
        endif()
    endif()
    _llama_pybind_cuda_helper(find ${major_args})
    if(NOT CUDA_PIP_MISSING STREQUAL "")
        _llama_pybind_cuda_fixes(fixes)
        llama_pybind_fail("GGML_CUDA=ON, but ${reason}; and NVIDIA's CUDA toolkit packages are not "
            "installed for ${Python_EXECUTABLE} (missing: ${CUDA_PIP_MISSING})." ${fixes})
    endif()
    message(STATUS "llama-cpp-pybind: CUDA toolkit from NVIDIA's pip packages in ${CUDA_PIP_SITE} "
                   "(${reason})")
    set(view "${CMAKE_BINARY_DIR}/cuda-toolkit")
    _llama_pybind_cuda_helper(view ${major_args} --dest "${view}" --cc "${CMAKE_C_COMPILER}")
    _llama_pybind_cuda_helper(check --nvcc "${view}/bin/nvcc")
    _llama_pybind_use_cuda("${view}/bin/nvcc" "${view}" "${CUDA_SYSTEM_VERSION}" pip)
    set(LLAMA_PYBIND_CUDA_PIP_SITE "${CUDA_PIP_SITE}" CACHE INTERNAL "site folder of the pip toolkit")
endfunction()

# Hand the chosen toolkit to CMake's CUDA support and ggml, after checking its version
# and the architectures asked for.
function(_llama_pybind_use_cuda nvcc root version source)
    file(READ "${_LLAMA_PYBIND_CUDA_TABLE}" table)
    string(JSON minimum GET "${table}" minimum_version)
    string(JSON major GET "${table}" default_major)
    string(JSON pip_version GET "${table}" toolkits ${major} version)
    if(version AND version VERSION_LESS minimum)
        llama_pybind_fail("GGML_CUDA=ON: the CUDA toolkit at ${root} is version ${version}; the "
            "pinned llama.cpp needs ${minimum} or newer."
            "\nFix: install a newer CUDA toolkit, or use NVIDIA's packages from the package index "
            "with -DLLAMA_PYBIND_CUDA_TOOLKIT=pip (CUDA ${pip_version}).")
    endif()
    set(CMAKE_CUDA_COMPILER "${nvcc}" CACHE FILEPATH "CUDA compiler" FORCE)
    set(CUDAToolkit_ROOT "${root}" CACHE PATH "CUDA toolkit" FORCE)
    set(_LLAMA_PYBIND_CUDA_CHOSEN_COMPILER "${nvcc}" CACHE INTERNAL "set by this file")
    set(_LLAMA_PYBIND_CUDA_CHOSEN_ROOT "${root}" CACHE INTERNAL "set by this file")
    set(LLAMA_PYBIND_CUDA_TOOLKIT_USED "${source}" CACHE INTERNAL "system or pip")
    set(LLAMA_PYBIND_CUDA_TOOLKIT_ROOT "${root}" CACHE INTERNAL "the toolkit used")
    set(LLAMA_PYBIND_CUDA_VERSION "${version}" CACHE INTERNAL "nvcc's release")
    message(STATUS "llama-cpp-pybind: CUDA ${version} (${source} toolkit), nvcc ${nvcc}")
    _llama_pybind_cuda_architectures("${nvcc}" "${version}")
endfunction()

# CMAKE_CUDA_ARCHITECTURES: the user's value (also from the CUDAARCHS environment variable,
# as CMake reads it), each entry checked against nvcc's list; unset, a default.
function(_llama_pybind_cuda_architectures nvcc version)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND DEFINED ENV{CUDAARCHS}
       AND NOT "$ENV{CUDAARCHS}" STREQUAL "")
        set(CMAKE_CUDA_ARCHITECTURES "$ENV{CUDAARCHS}")
    endif()
    execute_process(COMMAND nvidia-smi --query-gpu=compute_cap --format=csv,noheader
        OUTPUT_VARIABLE gpus ERROR_QUIET RESULT_VARIABLE rc)
    string(REGEX MATCHALL "[0-9]+\\.[0-9]+" gpus "${gpus}")
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        if(gpus OR LLAMA_PYBIND_MODE STREQUAL "portable")
            set(LLAMA_PYBIND_CUDA_ARCHITECTURES_NOTE "ggml's default" CACHE INTERNAL "")
            return()  # ggml: "native" with a GPU, its portable list in portable mode
        endif()
        file(READ "${_LLAMA_PYBIND_CUDA_TABLE}" table)
        string(JSON archs GET "${table}" architectures_without_gpu)
        set(CMAKE_CUDA_ARCHITECTURES "${archs}" CACHE STRING "CUDA architectures" FORCE)
        set(LLAMA_PYBIND_CUDA_ARCHITECTURES_NOTE
            "no GPU visible at build time: every GPU from Turing on; name yours, e.g. "
            "-DCMAKE_CUDA_ARCHITECTURES=86 (RTX 30xx), to build several times faster"
            CACHE INTERNAL "")
        return()
    endif()
    execute_process(COMMAND "${nvcc}" --list-gpu-arch OUTPUT_VARIABLE known ERROR_QUIET)
    string(REGEX MATCHALL "compute_[0-9]+" known "${known}")
    string(REPLACE "compute_" "" known "${known}")
    list(JOIN known ", " known_text)
    foreach(arch IN LISTS CMAKE_CUDA_ARCHITECTURES)
        if(arch MATCHES "^(all|all-major|OFF)$")
            continue()
        elseif(arch STREQUAL "native")
            if(NOT gpus)
                llama_pybind_fail("CMAKE_CUDA_ARCHITECTURES=native compiles for the GPUs visible "
                    "while building, and none is visible here (nvidia-smi finds none)."
                    "\nFix: name the GPU's architecture, e.g. -DCMAKE_CUDA_ARCHITECTURES=86 for an "
                    "RTX 30xx (`llama-cpp doctor` on the GPU machine shows it), or leave it unset "
                    "to build for every GPU from Turing on.")
            endif()
        elseif(arch MATCHES "^([0-9]+)[af]?(-real|-virtual)?$")
            if(known AND NOT CMAKE_MATCH_1 IN_LIST known)
                llama_pybind_fail("CMAKE_CUDA_ARCHITECTURES: nvcc ${version} (${nvcc}) cannot "
                    "compile for '${arch}'; it knows ${known_text}."
                    "\nFix: use one of those (a GPU's compute capability without the dot, e.g. "
                    "86 for 8.6), or a toolkit that still supports that GPU.")
            endif()
        else()
            llama_pybind_fail("CMAKE_CUDA_ARCHITECTURES: '${arch}' is not an architecture. "
                "Use numbers such as 86 or 86-real or 90-virtual separated by ';' "
                "(nvcc ${version} knows ${known_text}), or native, all, all-major.")
        endif()
    endforeach()
    set(LLAMA_PYBIND_CUDA_ARCHITECTURES_NOTE "as given" CACHE INTERNAL "")
endfunction()

# After add_subdirectory(llama.cpp): the architectures ggml compiles for, as resolved.
function(llama_pybind_cuda_resolved_architectures out)
    set(archs "")
    if(TARGET ggml-cuda)
        get_target_property(archs ggml-cuda CUDA_ARCHITECTURES)
    endif()
    set(${out} "${archs}" PARENT_SCOPE)
endfunction()

# Where the installed CUDA backend module finds the CUDA runtime and cuBLAS (native mode):
# the toolkit's library folders; for NVIDIA's pip packages, their folders relative to the
# module (llama_cpp/lib -> site-packages/nvidia/...), as pip installs them side by side.
# (llama_cpp._loader also preloads them from wherever they are on sys.path.)
function(llama_pybind_cuda_runtime_rpath out)
    set(rpath "")
    if(LLAMA_PYBIND_CUDA_TOOLKIT_USED STREQUAL "pip")
        file(READ "${_LLAMA_PYBIND_CUDA_TABLE}" table)
        string(REGEX MATCH "^[0-9]+" major "${LLAMA_PYBIND_CUDA_VERSION}")
        string(JSON count LENGTH "${table}" toolkits ${major} roots)
        math(EXPR last "${count} - 1")
        foreach(i RANGE ${last})
            string(JSON root GET "${table}" toolkits ${major} roots ${i})
            if(APPLE)
                list(APPEND rpath "@loader_path/../../${root}/lib")
            else()
                list(APPEND rpath "$ORIGIN/../../${root}/lib")
            endif()
        endforeach()
    else()
        foreach(library CUDA_cudart_LIBRARY CUDA_cublas_LIBRARY)
            if(${library})
                get_filename_component(dir "${${library}}" DIRECTORY)
                list(APPEND rpath "${dir}")
            endif()
        endforeach()
        list(REMOVE_DUPLICATES rpath)
    endif()
    set(${out} "${rpath}" PARENT_SCOPE)
endfunction()
