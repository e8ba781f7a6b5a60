# Windows: before project() enables C and C++, check that a Visual Studio C++
# compiler exists and that the generator matches it, and warn about paths that
# will exceed Windows' 260-character limit. Each problem is named with its fix
# instead of CMake's "No CMAKE_CXX_COMPILER could be found".
#
# The decision is llama_pybind_windows_verdict(), fed with what vswhere and the
# registry say; it also runs in script mode on any OS for the tests:
#   cmake -DVSWHERE=found|missing -DALL_JSON=... -DVC_JSON=... -DGENERATOR=...
#         -DLONG_PATHS=0|1 -DBINARY_DIR=... -P cmake/WindowsToolchain.cmake

include_guard(GLOBAL)
include("${CMAKE_CURRENT_LIST_DIR}/Fail.cmake")

set(LLAMA_PYBIND_VC_COMPONENT "Microsoft.VisualStudio.Component.VC.Tools.x86.x64")
set(_llama_pybind_vs_years "15=2017;16=2019;17=2022;18=2026")

# VS major version (17) -> year (2022)
function(_llama_pybind_vs_year major out)
    set(year "")
    foreach(pair IN LISTS _llama_pybind_vs_years)
        string(REPLACE "=" ";" pair "${pair}")
        list(GET pair 0 m)
        list(GET pair 1 y)
        if(m STREQUAL major)
            set(year "${y}")
        endif()
    endforeach()
    set(${out} "${year}" PARENT_SCOPE)
endfunction()

# vswhere_found: TRUE/FALSE; all_json / vc_json: `vswhere -products * -format json`
# without / with `-requires` the MSVC x64 tools; generator: CMAKE_GENERATOR;
# long_paths: the LongPathsEnabled registry value; binary_dir: the build directory.
function(llama_pybind_windows_verdict vswhere_found all_json vc_json generator long_paths binary_dir)
    string(CONCAT workload_help
        "\"Desktop development with C++\" (Microsoft.VisualStudio.Workload.NativeDesktop, or in "
        "the Build Tools \"C++ build tools\", Microsoft.VisualStudio.Workload.VCTools)")
    if(NOT vswhere_found)
        llama_pybind_fail(
            "no Visual Studio was found (vswhere.exe is missing), and a C++ compiler is needed."
            "\nFix: install Visual Studio 2022 or its Build Tools with the workload ${workload_help}, "
            "for example:\n  winget install --id Microsoft.VisualStudio.2022.BuildTools --override "
            "\"--passive --wait --add Microsoft.VisualStudio.Workload.VCTools --includeRecommended\""
            "\nthen open a new \"x64 Native Tools Command Prompt\" and run pip again.")
    endif()
    string(JSON n_all ERROR_VARIABLE err LENGTH "${all_json}")
    string(JSON n_vc ERROR_VARIABLE err LENGTH "${vc_json}")
    if(NOT n_all MATCHES "^[0-9]+$")
        set(n_all 0)
    endif()
    if(NOT n_vc MATCHES "^[0-9]+$")
        set(n_vc 0)
    endif()
    if(n_all EQUAL 0)
        llama_pybind_fail(
            "vswhere finds no Visual Studio installation, and a C++ compiler is needed."
            "\nFix: install Visual Studio 2022 or its Build Tools with the workload ${workload_help}.")
    endif()
    if(n_vc EQUAL 0)
        string(JSON name GET "${all_json}" 0 displayName)
        string(JSON path GET "${all_json}" 0 installationPath)
        llama_pybind_fail(
            "${name} is installed without its C++ compiler (no ${LLAMA_PYBIND_VC_COMPONENT})."
            "\nFix: add the workload ${workload_help} with the Visual Studio Installer's Modify "
            "button, or:\n  \"C:\\Program Files (x86)\\Microsoft Visual Studio\\Installer\\setup.exe\" "
            "modify --installPath \"${path}\" --add Microsoft.VisualStudio.Workload.NativeDesktop "
            "--includeRecommended --passive")
    endif()
    # A Visual Studio generator must name an installed version that has MSVC.
    if(generator MATCHES "^Visual Studio ([0-9]+) ([0-9]+)")
        set(wanted "${CMAKE_MATCH_1}")
        set(have "")
        math(EXPR last "${n_vc} - 1")
        foreach(i RANGE ${last})
            string(JSON version GET "${vc_json}" ${i} installationVersion)
            string(REGEX MATCH "^[0-9]+" major "${version}")
            _llama_pybind_vs_year("${major}" year)
            list(APPEND have "Visual Studio ${major} ${year}")
            if(major STREQUAL wanted)
                set(wanted "")
            endif()
        endforeach()
        if(wanted)
            list(GET have 0 first)
            list(JOIN have ", " have_text)
            llama_pybind_fail(
                "the generator \"${generator}\" needs that Visual Studio, but the ones with a C++ "
                "compiler here are: ${have_text}."
                "\nFix: set CMAKE_GENERATOR=\"${first}\" (PowerShell: $env:CMAKE_GENERATOR=\"${first}\"), "
                "or use Ninja from an \"x64 Native Tools Command Prompt\": set CMAKE_GENERATOR=Ninja")
        endif()
    endif()
    string(LENGTH "${binary_dir}" length)
    if(NOT long_paths STREQUAL "1" AND length GREATER 100)
        message(WARNING "llama-cpp-pybind: the build directory is ${length} characters long "
            "(${binary_dir}) and Windows long paths are off: llama.cpp's deepest files can exceed "
            "the 260-character limit and fail to compile."
            "\nFix (PowerShell as administrator, then a new shell):\n  New-ItemProperty -Path "
            "\"HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem\" -Name LongPathsEnabled "
            "-Value 1 -PropertyType DWORD -Force\nor build from a short path (C:\\src\\llama-cpp-pybind).")
    endif()
endfunction()

# Configure-time entry point: gathers the facts on Windows and decides.
function(llama_pybind_check_windows_toolchain)
    if(NOT CMAKE_HOST_WIN32)
        return()
    endif()
    # A compiler chosen explicitly, or a developer prompt (MSVC already on PATH): nothing to find.
    if(CMAKE_CXX_COMPILER OR DEFINED ENV{CXX} OR DEFINED ENV{VCToolsInstallDir})
        set(generator_only TRUE)
    endif()
    set(program_files "$ENV{ProgramFiles\(x86\)}")
    if(NOT program_files)
        set(program_files "C:/Program Files (x86)")
    endif()
    set(vswhere "${program_files}/Microsoft Visual Studio/Installer/vswhere.exe")
    if(NOT EXISTS "${vswhere}")
        if(generator_only)
            return()
        endif()
        llama_pybind_windows_verdict(FALSE "[]" "[]" "${CMAKE_GENERATOR}" 1 "${CMAKE_BINARY_DIR}")
        return()
    endif()
    execute_process(COMMAND "${vswhere}" -products * -format json -utf8
        OUTPUT_VARIABLE all_json OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND "${vswhere}" -products * -requires ${LLAMA_PYBIND_VC_COMPONENT}
        -format json -utf8 OUTPUT_VARIABLE vc_json OUTPUT_STRIP_TRAILING_WHITESPACE)
    cmake_host_system_information(RESULT long_paths QUERY WINDOWS_REGISTRY
        "HKLM/SYSTEM/CurrentControlSet/Control/FileSystem" VALUE LongPathsEnabled)
    if(generator_only AND NOT CMAKE_GENERATOR MATCHES "^Visual Studio")
        set(vc_json "${all_json}")  # the compiler is given; only long paths remain to check
    endif()
    llama_pybind_windows_verdict(TRUE "${all_json}" "${vc_json}" "${CMAKE_GENERATOR}"
        "${long_paths}" "${CMAKE_BINARY_DIR}")
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    if(VSWHERE STREQUAL "missing")
        set(found FALSE)
    else()
        set(found TRUE)
    endif()
    llama_pybind_windows_verdict(${found} "${ALL_JSON}" "${VC_JSON}" "${GENERATOR}"
        "${LONG_PATHS}" "${BINARY_DIR}")
    message(STATUS "llama-cpp-pybind: the Windows toolchain is usable")
endif()
