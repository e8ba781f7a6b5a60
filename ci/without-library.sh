#!/usr/bin/env bash
# Run a command as on a machine without some shared libraries: in a private mount
# namespace, each library (and the file its name links to) is hidden from its folder by
# an overlay with a whiteout, so the dynamic loader answers "cannot open shared object
# file" exactly as where the package is not installed. Nothing changes outside the
# command. Needs root (or a user namespace) and util-linux's unshare.
#
#   bash ci/without-library.sh libvulkan.so.1 [LIB ...] -- COMMAND [ARGS ...]
set -euo pipefail
libraries=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    libraries+=("$1")
    shift
done
[ "${1:-}" = -- ] && shift
if [ ${#libraries[@]} -eq 0 ] || [ $# -eq 0 ]; then
    echo "usage: bash ci/without-library.sh LIB [LIB ...] -- COMMAND [ARGS ...]" >&2
    exit 2
fi
if [ -z "${LLAMA_PYBIND_IN_NAMESPACE:-}" ]; then
    exec env LLAMA_PYBIND_IN_NAMESPACE=1 unshare --mount --propagation private \
        bash "$0" "${libraries[@]}" -- "$@"
fi

work=$(mktemp -d)
declare -A hide=()
for name in "${libraries[@]}"; do
    path=$(ldconfig -p | awk -v n="$name" '$1 == n { print $NF; exit }')
    if [ -z "$path" ]; then
        echo "[without-library] $name is not installed here: nothing to hide" >&2
        continue
    fi
    for file in "$path" "$(readlink -f "$path")"; do
        hide["$(readlink -f "$(dirname "$file")")"]+=" $(basename "$file")"
    done
done
for folder in "${!hide[@]}"; do
    layer="$work/$(echo "$folder" | tr / _)"
    mkdir -p "$layer/upper" "$layer/work"
    for file in ${hide[$folder]}; do
        mknod "$layer/upper/$file" c 0 0 2>/dev/null || true
    done
    mount -t overlay overlay \
        -o "lowerdir=$folder,upperdir=$layer/upper,workdir=$layer/work" "$folder"
    echo "[without-library] hidden in $folder:${hide[$folder]}" >&2
done
exec "$@"
