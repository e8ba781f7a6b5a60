#!/usr/bin/env bash
# Newer Vulkan headers for a distribution whose own are too old for llama.cpp's Vulkan
# backend (Debian 12 ships 1.3.239; the backend needs 1.3.272 or newer), without
# changing the system: the libvulkan-dev package of a newer release is downloaded with
# a private apt source list and unpacked with dpkg -x into a private folder. Nothing is
# installed; no root needed.
#
#   bash ci/vulkan-headers.sh [DEST]
#
# DEST defaults to ${XDG_CACHE_HOME:-~/.cache}/llama-cpp-pybind/vulkan-headers. The last
# line printed on stdout is the include folder to pass to the build:
#
#   CMAKE_ARGS="-DGGML_VULKAN=ON -DVulkan_INCLUDE_DIR=$(bash ci/vulkan-headers.sh)" pip install .
#
# Debian and its derivatives take Debian 13's package from Debian's archive; Ubuntu takes
# Ubuntu 24.04's from Ubuntu's archive (each checked with the keyring the system already
# has). The loader (libvulkan.so), glslc and the SPIR-V headers still come from the
# system's own packages: sudo apt-get install libvulkan-dev glslc spirv-headers.
set -euo pipefail

dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-cpp-pybind/vulkan-headers}
say() { echo "[vulkan-headers] $*" >&2; }

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    say "this script needs apt-get and dpkg (Debian, Ubuntu and their derivatives)."
    say "Elsewhere install the LunarG Vulkan SDK and set VULKAN_SDK to its folder."
    exit 1
fi

# shellcheck disable=SC1091  # the running system's own file
distro=$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}")
case " $distro " in
    *" ubuntu "*)
        mirror=http://archive.ubuntu.com/ubuntu release=noble
        keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
        keyring_package=ubuntu-keyring
        ;;
    *)
        mirror=http://deb.debian.org/debian release=trixie
        keyring=/usr/share/keyrings/debian-archive-keyring.gpg
        keyring_package=debian-archive-keyring
        ;;
esac
if [ "$(dpkg --print-architecture)" != amd64 ] && [ "$mirror" = http://archive.ubuntu.com/ubuntu ]; then
    mirror=http://ports.ubuntu.com/ubuntu-ports  # Ubuntu's other architectures
fi
include="$dest/$release/usr/include"

if [ -f "$include/vulkan/vulkan_core.h" ]; then
    say "already unpacked: $include"
    echo "$include"
    exit 0
fi
if [ ! -f "$keyring" ]; then
    say "the archive keyring $keyring is missing: sudo apt-get install $keyring_package"
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
echo "deb [signed-by=$keyring] $mirror $release main" >"$work/sources.list"
apt_private=(
    -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
    -o "Debug::NoLocking=1" -o APT::Sandbox::User="$(id -un)"
)
say "reading $release's package list from $mirror"
apt-get -q "${apt_private[@]}" update >"$work/update.log" 2>&1 \
    || { cat "$work/update.log" >&2; say "apt-get update of $release failed"; exit 1; }
(cd "$work/deb" && apt-get -q "${apt_private[@]}" download libvulkan-dev >"$work/get.log" 2>&1) \
    || { cat "$work/get.log" >&2; say "downloading $release's libvulkan-dev failed"; exit 1; }
deb=$(ls "$work"/deb/libvulkan-dev_*.deb)
say "unpacking $(basename "$deb") into $dest/$release"
mkdir -p "$dest"
rm -rf "$dest/$release.partial"
dpkg -x "$deb" "$dest/$release.partial"
rm -rf "${dest:?}/${release:?}"
mv "$dest/$release.partial" "$dest/$release"
version=$(sed -n 's/^#define VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION(0, \([0-9]*\), \([0-9]*\), VK_HEADER_VERSION)/\1.\2/p' \
    "$include/vulkan/vulkan_core.h")
patch=$(sed -n 's/^#define VK_HEADER_VERSION \([0-9]*\)$/\1/p' "$include/vulkan/vulkan_core.h")
say "Vulkan headers $version.$patch in $include"
echo "$include"
