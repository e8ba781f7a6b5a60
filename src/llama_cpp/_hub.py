"""Llama.from_pretrained: GGUF files from the Hugging Face Hub (optional extra)."""

from __future__ import annotations

import fnmatch


def download_model(
    repo_id: str, filename: str | None, *, local_dir: str | None, cache_dir: str | None
) -> str:
    """Local path of ``filename`` (a name or glob) from ``repo_id``, downloading if needed;
    offline, the hub cache is used."""
    try:
        import huggingface_hub
    except ImportError as e:
        raise ImportError(
            "Llama.from_pretrained needs huggingface_hub: pip install 'llama-cpp-pybind[hub]'"
        ) from e
    if not filename:
        raise ValueError(
            "from_pretrained needs filename= (a GGUF file name or a glob like '*Q4_K_M.gguf')"
        )
    if any(c in filename for c in "*?["):
        # The cache first: a model downloaded before loads without asking the hub (which,
        # unreachable, would be retried for many seconds).
        files = _cached_files(huggingface_hub, repo_id, cache_dir)
        if not any(fnmatch.fnmatch(f, filename) for f in files):
            try:
                files = huggingface_hub.list_repo_files(repo_id)
            except Exception as e:
                if not files:
                    raise ValueError(
                        f"cannot list the files of {repo_id!r} on the hub ({e}) and none is "
                        "cached; check the name and the network, or pass an exact filename"
                    ) from e
        matches = sorted(f for f in files if fnmatch.fnmatch(f, filename))
        if not matches:
            raise ValueError(f"no file in {repo_id!r} matches {filename!r}; files: {sorted(files)}")
        if len(matches) > 1 and not all("-of-" in m for m in matches):
            raise ValueError(
                f"{filename!r} matches several files in {repo_id!r}: {matches}; be more specific"
            )
        filename = matches[0]
    return huggingface_hub.hf_hub_download(
        repo_id, filename, local_dir=local_dir, cache_dir=cache_dir
    )


def _cached_files(huggingface_hub: object, repo_id: str, cache_dir: str | None) -> list[str]:
    """Repository-relative paths of the files of ``repo_id`` in the local hub cache."""
    try:
        info = huggingface_hub.scan_cache_dir(cache_dir)  # type: ignore[attr-defined]
    except Exception:  # no cache yet (CacheNotFound) or an unreadable one
        return []
    return sorted(
        f.file_path.relative_to(rev.snapshot_path).as_posix()
        for repo in info.repos
        if repo.repo_id == repo_id and repo.repo_type == "model"
        for rev in repo.revisions
        for f in rev.files
    )
