"""One table, two readers: src/llama_cpp/flag_table.json is read by CMake
(cmake/LegacyFlags.cmake, cmake/BuildInfo.cmake) and by `llama-cpp doctor`
(llama_cpp/doctor/checks/_flags.py). These tests check that both do what its rows say:
the doctor's parser row by row, and a real configure given every legacy flag at once."""

from __future__ import annotations

import re
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from cmake_project import Configure

from llama_cpp.doctor.checks._flags import (
    BACKEND_OF_OPTION,
    BUILD_NAME_OF_REGISTRY,
    CURRENT_LLAMA_FLAGS,
    GPU_BACKENDS,
    LEGACY_DROPPED,
    LEGACY_NOTES,
    LEGACY_RENAMES,
    LEGACY_WHEN_ON,
    flag_table,
    is_on,
    legacy_in,
    modernise,
    parse_cmake_args,
    requested_backends,
)

RENAMES: list[dict[str, Any]] = flag_table()["legacy_renames"]
DROPPED: list[dict[str, Any]] = flag_table()["legacy_dropped"]
_NOTICE = re.compile(
    r"llama-cpp-pybind: -D(\w+)=(\S*) is a legacy flag; building with -D(\w+)=([^\s.]*)\."
)


def _expected(defines: dict[str, str]) -> dict[str, str]:
    """What the table says ``defines`` (legacy names only, each row at most once) become,
    applying rows in table order: the later row wins."""
    result: dict[str, str] = {}
    for row in RENAMES:
        if row["legacy"] in defines:
            value = defines[row["legacy"]]
            result[row["modern"]] = value
            if is_on(value):
                result.update(row.get("when_on", {}))
    return result


# --- the table itself -----------------------------------------------------------------


def test_the_table_ships_inside_the_package() -> None:
    assert resources.files("llama_cpp").joinpath("flag_table.json").is_file()
    cmake = (Path(__file__).resolve().parents[1] / "cmake" / "FlagTable.cmake").read_text()
    assert "src/llama_cpp/flag_table.json" in cmake


def test_every_section_is_explained_and_names_are_unique() -> None:
    table = flag_table()
    sections = set(table) - {"comment"}
    assert sections == set(table["comment"]) - {"about"}
    assert len(LEGACY_RENAMES) == len(RENAMES), "a legacy name appears twice"
    assert len(LEGACY_DROPPED) == len(DROPPED), "a dropped name appears twice"
    assert len(CURRENT_LLAMA_FLAGS) == len(table["current_llama_flags"])
    assert len(BACKEND_OF_OPTION) == len(table["backend_options"])
    # a name is one kind only: renamed, dropped or current
    assert not set(LEGACY_RENAMES) & set(LEGACY_DROPPED)
    assert not (set(LEGACY_RENAMES) | set(LEGACY_DROPPED)) & CURRENT_LLAMA_FLAGS
    for row in RENAMES:
        assert set(row) <= {"legacy", "modern", "note", "when_on"}, row
        assert row["modern"].startswith("GGML_") and row["modern"] != row["legacy"], row
        assert all(option.startswith("GGML_") for option in row.get("when_on", {})), row
    for row in DROPPED:
        assert set(row) == {"legacy", "reason"} and not row["reason"].endswith("."), row


def test_backend_names_cover_what_the_doctor_knows() -> None:
    backends = set(BACKEND_OF_OPTION.values())
    assert set(GPU_BACKENDS) <= backends
    assert set(BUILD_NAME_OF_REGISTRY.values()) <= backends
    assert BUILD_NAME_OF_REGISTRY == {"MTL": "Metal"}  # ggml-metal's registry name
    assert next(iter(BACKEND_OF_OPTION)) == "GGML_CPU"  # listed first by the build info


# --- the doctor's parser reads each row as the table says ------------------------------


@pytest.mark.parametrize("row", RENAMES, ids=[row["legacy"] for row in RENAMES])
@pytest.mark.parametrize("value", ["ON", "off"])
def test_the_doctor_translates_each_legacy_flag(row: dict[str, Any], value: str) -> None:
    legacy, modern = row["legacy"], row["modern"]
    defines = parse_cmake_args(f"-D{legacy}={value}")
    assert defines == {legacy: value}
    assert legacy_in(defines) == {legacy: modern}
    became = modernise(defines)
    assert became == {modern: value, **(row.get("when_on", {}) if is_on(value) else {})}
    on, off = requested_backends(defines)
    backends = {BACKEND_OF_OPTION[name] for name in became if name in BACKEND_OF_OPTION}
    assert (on, off) == ((backends, set()) if is_on(value) else (set(), backends))
    assert LEGACY_NOTES.get(legacy) == row.get("note")
    assert LEGACY_WHEN_ON.get(legacy, {}) == row.get("when_on", {})
    # a modern flag given as well wins, whichever comes first
    assert modernise({legacy: value, modern: "X"})[modern] == "X"
    assert modernise({modern: "X", legacy: value})[modern] == "X"


@pytest.mark.parametrize("row", DROPPED, ids=[row["legacy"] for row in DROPPED])
def test_the_doctor_drops_each_dropped_flag(row: dict[str, Any]) -> None:
    defines = parse_cmake_args(f"-D{row['legacy']}=ON -DGGML_RPC=OFF")
    assert legacy_in(defines) == {}
    assert modernise(defines) == {"GGML_RPC": "OFF"}


def test_the_later_row_wins_as_in_the_build() -> None:
    """Two legacy names for one modern flag: the later row of the table wins, whatever
    the order on the command line (CMake applies the rows in table order)."""
    pairs = [
        (earlier, later)
        for earlier, later in combinations(RENAMES, 2)
        if earlier["modern"] == later["modern"]
    ]
    assert len(pairs) >= 4  # CUDA, HIP, Vulkan (four names), BLAS
    for earlier, later in pairs:
        for defines in (
            {earlier["legacy"]: "ON", later["legacy"]: "OFF"},
            {later["legacy"]: "OFF", earlier["legacy"]: "ON"},
        ):
            assert modernise(defines)[later["modern"]] == "OFF", (earlier, later)


@pytest.mark.parametrize(
    ("value", "on"),
    [("ON", True), ("yes", True), ("1", True), ("2", True), ("anything", True), ("OFF", False),
     ("0", False), ("no", False), ("n", False), ("False", False), ("", False),
     ("IGNORE", False), ("NOTFOUND", False), ("BLAS-NOTFOUND", False)],
)  # fmt: skip
def test_truth_is_cmakes(value: str, on: bool) -> None:
    assert is_on(value) is on


# --- a real configure reads the same rows ----------------------------------------------


def _all_legacy_flags(openblas: bool) -> dict[str, str]:
    """A value for every legacy row, chosen so configure succeeds without any GPU toolkit:
    backends off except RPC (and BLAS from OpenBLAS where it is installed); rows sharing a
    modern flag disagree, so the table's order decides."""
    values = {row["legacy"]: "OFF" for row in RENAMES}
    values |= {"LLAMA_BLAS_VENDOR": "Generic", "LLAMA_SYCL_TARGET": "INTEL"}
    values |= {"LLAMA_RPC": "ON", "LLAMA_CUBLAS": "ON", "LLAMA_VULKAN": "ON", "LLAMA_BLAS": "ON"}
    values["LLAMA_OPENBLAS"] = "ON" if openblas else "OFF"
    assert set(values) == set(LEGACY_RENAMES)
    return values


def _configure_all(configure, legacy: dict[str, str], dropped: dict[str, str]) -> Configure:
    # given in reverse table order: the build applies the rows in table order anyway
    flags = [f"-D{name}={value}" for name, value in reversed(legacy.items())]
    return configure(*flags, *(f"-D{name}={value}" for name, value in dropped.items()))


@pytest.mark.configure
def test_one_configure_with_every_legacy_flag_follows_the_table(
    configure, llama_cpp_tree: Path
) -> None:
    dropped = {name: "ON" for name in LEGACY_DROPPED}
    legacy = _all_legacy_flags(openblas=True)
    result = _configure_all(configure, legacy, dropped)
    if result.returncode != 0 and "GGML_BLAS_VENDOR=OpenBLAS, but CMake found no" in result.flat:
        legacy = _all_legacy_flags(openblas=False)  # no OpenBLAS on this machine
        result = _configure_all(configure, legacy, dropped)
    assert result.returncode == 0, result.log

    # one notice per row (and per forced flag), in table order, naming the table's flag
    wanted = []
    for row in RENAMES:
        value = legacy[row["legacy"]]
        string = row["modern"].endswith(("_VENDOR", "_TARGET"))  # the build's one rule
        became = value if string else "ON" if is_on(value) else "OFF"
        wanted.append((row["legacy"], value, row["modern"], became))
        if is_on(value):
            wanted += [(row["legacy"], value, o, v) for o, v in row.get("when_on", {}).items()]
    assert _NOTICE.findall(result.flat) == wanted
    for legacy_name, note in LEGACY_NOTES.items():
        assert f"-D{legacy_name}=" in result.flat
        notice = rf"-D{legacy_name}=\S+ is a legacy flag; [^.]*\. {re.escape(note)}"
        assert re.search(notice, result.flat), legacy_name
    for row in DROPPED:
        name = row["legacy"]
        assert f"-D{name}={dropped[name]} is ignored: {row['reason']}." in result.flat
    recorded = result.build_info()["legacy_flags"]
    assert recorded == [{"given": f"{a}={b}", "became": f"{c}={d}"} for a, b, c, d in wanted]

    # the cache holds what the doctor's parser says the flags become; no legacy name is left
    for name, value in modernise(legacy | dropped).items():
        assert result.cache(name) == value, name
    assert modernise(legacy) == _expected(legacy)
    for name in [*legacy, *dropped]:
        assert result.cache(name) is None, name

    # the backends recorded are the table's names of the options that are on, in its order
    info = result.build_info()
    flags = info["flags"]
    backends = [b for option, b in BACKEND_OF_OPTION.items() if is_on(flags.get(option, "OFF"))]
    assert info["backends"] == backends == result.summary_backends()
    assert {"CPU", "RPC"} <= set(backends)
    assert ("BLAS" in backends) == (legacy["LLAMA_OPENBLAS"] == "ON")
    on, off = requested_backends(legacy)
    assert on <= set(backends) and not off & set(backends)


@pytest.mark.configure
def test_unknown_flag_error_lists_the_table_and_spares_current_flags(
    configure, llama_cpp_tree: Path
) -> None:
    current = sorted(CURRENT_LLAMA_FLAGS)
    result = configure("-DLLAMA_FOO=ON", *(f"-D{name}=OFF" for name in current))
    assert result.returncode != 0
    # only LLAMA_FOO is unknown: every current option of the table is accepted
    assert "llama-cpp-pybind: unknown flag LLAMA_FOO. " in result.flat, result.log
    listed = " ".join(
        f"{row['legacy']} -> {row['modern']}"
        + "".join(f" + {o}={v}" for o, v in row.get("when_on", {}).items())
        for row in RENAMES
    )
    assert f"Legacy names understood: {listed}" in result.flat, result.log
