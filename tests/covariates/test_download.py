"""Downloads against a local HTTP server: checksum, cache, resume, restart, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from permamap.cache import cache_dir
from permamap.covariates.download import (
    ChecksumError,
    DownloadError,
    NotFoundError,
    default_cache_dir,
    download,
)
from permamap.errors import ConfigError

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(http_server: tuple[str, object]) -> tuple[str, object]:
    base, state = http_server
    (state.root / "data.bin").write_bytes(PAYLOAD)  # type: ignore[attr-defined]
    return base, state


def test_download_verifies_and_caches(served: tuple[str, object], tmp_path: Path) -> None:
    base, state = served
    cache = tmp_path / "cache"
    path = download(f"{base}/data.bin", cache, sha256=DIGEST, progress=False)
    assert path == cache / "data.bin" and path.read_bytes() == PAYLOAD
    assert (cache / "data.bin.sha256").read_text().startswith(DIGEST)
    n = len(state.requests)  # type: ignore[attr-defined]
    assert download(f"{base}/data.bin", cache, sha256=DIGEST, progress=False) == path
    assert len(state.requests) == n  # type: ignore[attr-defined]  # served from the cache


def test_resume_after_truncated_download_gives_the_right_sha256(
    served: tuple[str, object], tmp_path: Path
) -> None:
    base, state = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.bin.part").write_bytes(PAYLOAD[:40_000])  # an earlier run stopped here
    path = download(f"{base}/data.bin", cache, sha256=DIGEST, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DIGEST
    assert state.requests[-1] == ("/data.bin", "bytes=40000-")  # type: ignore[attr-defined]
    assert not (cache / "data.bin.part").exists()


def test_dropped_connection_resumes_automatically(
    served: tuple[str, object], tmp_path: Path
) -> None:
    base, state = served
    state.drop_after["/data.bin"] = 30_000  # type: ignore[attr-defined]
    path = download(f"{base}/data.bin", tmp_path, sha256=DIGEST, progress=False, retries=2)
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in state.requests] == [None, "bytes=30000-"]  # type: ignore[attr-defined]


def test_dropped_connection_without_retries_keeps_the_part(
    served: tuple[str, object], tmp_path: Path
) -> None:
    base, state = served
    state.drop_after["/data.bin"] = 30_000  # type: ignore[attr-defined]
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download(f"{base}/data.bin", tmp_path, sha256=DIGEST, progress=False, retries=0)
    assert (tmp_path / "data.bin.part").stat().st_size == 30_000
    assert not (tmp_path / "data.bin").exists()
    assert (
        download(f"{base}/data.bin", tmp_path, sha256=DIGEST, progress=False).read_bytes()
        == PAYLOAD
    )


def test_server_without_ranges_restarts_from_zero(
    served: tuple[str, object], tmp_path: Path
) -> None:
    base, state = served
    state.ignore_range = True  # type: ignore[attr-defined]
    (tmp_path / "data.bin.part").write_bytes(b"garbage" * 100)
    path = download(f"{base}/data.bin", tmp_path, sha256=DIGEST, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(served: tuple[str, object], tmp_path: Path) -> None:
    base, _ = served
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"does not match the expected {wrong}"):
        download(f"{base}/data.bin", tmp_path / "c", sha256=wrong, progress=False)
    assert list((tmp_path / "c").iterdir()) == []


def test_sidecar_checksum_and_corrupted_cache(served: tuple[str, object], tmp_path: Path) -> None:
    base, state = served
    (state.root / "data.bin.sha256").write_text(f"{DIGEST}  data.bin\n")  # type: ignore[attr-defined]
    path = download(f"{base}/data.bin", tmp_path, checksum="sidecar", progress=False)
    path.write_bytes(b"bit rot")  # the cached copy gets damaged
    again = download(f"{base}/data.bin", tmp_path, checksum="sidecar", progress=False)
    assert again.read_bytes() == PAYLOAD


def test_404_is_not_found(served: tuple[str, object], tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(NotFoundError, match="HTTP 404"):
        download(f"{base}/nope.tif", tmp_path / "c", progress=False)
    assert list((tmp_path / "c").iterdir()) == []


# --------------------------------------------------------------------------- one cache variable
def test_downloads_live_in_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERMAMAP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PERMAMAP_DATA_DIR", raising=False)
    assert cache_dir() == tmp_path / "cache" and cache_dir().is_dir()
    assert default_cache_dir() == tmp_path / "cache" / "downloads"


def test_retired_data_dir_alone_is_an_error_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PERMAMAP_CACHE_DIR", raising=False)
    monkeypatch.setenv("PERMAMAP_DATA_DIR", str(tmp_path / "dl"))
    with pytest.raises(
        ConfigError, match=r"PERMAMAP_DATA_DIR=.* is no longer read.*set PERMAMAP_CACHE_DIR"
    ):
        default_cache_dir()


def test_retired_data_dir_beside_the_cache_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERMAMAP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PERMAMAP_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError, match="unset PERMAMAP_DATA_DIR"):
        cache_dir()
    monkeypatch.setenv(
        "PERMAMAP_DATA_DIR", str(tmp_path / "downloads")
    )  # where downloads go anyway
    assert default_cache_dir() == tmp_path / "downloads"
