#!/usr/bin/env python3
"""The version of the Vulkan headers in an include folder (default /usr/include).

    python ci/vulkan_header_version.py [--include DIR]                 print it, e.g. 1.3.239
    python ci/vulkan_header_version.py --older-than 1.3.272 [--include DIR]
        print it only when it is older than that (or "missing" without headers)

Standard library only.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

_API = re.compile(r"VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION\(0, (\d+), (\d+),")
_PATCH = re.compile(r"#define VK_HEADER_VERSION (\d+)")


def header_version(include: Path) -> tuple[int, int, int] | None:
    """(major, minor, patch) of ``include/vulkan/vulkan_core.h``, or None without it."""
    try:
        text = (include / "vulkan" / "vulkan_core.h").read_text(encoding="utf-8")
    except OSError:
        return None
    api, patch = _API.search(text), _PATCH.search(text)
    if api is None or patch is None:
        return None
    return int(api.group(1)), int(api.group(2)), int(patch.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--include", type=Path, default=Path("/usr/include"))
    parser.add_argument("--older-than", metavar="VERSION")
    args = parser.parse_args()
    found = header_version(args.include)
    text = ".".join(map(str, found)) if found else "missing"
    minimum = tuple(int(p) for p in (args.older_than or "0").split("."))
    if args.older_than is None or found is None or found < minimum:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
