"""Downloading: resumable, checksummed, cached HTTP(S) downloads with a progress bar.

Standard library only (``urllib``), so that no HTTP client becomes a dependency. A download

1. returns at once when the cached file exists and its SHA-256 matches the expected digest (or its
   own ``.sha256`` sidecar when no digest is known);
2. otherwise writes to ``<name>.part``, resuming an existing part with an HTTP ``Range`` request
   (a server that ignores ranges restarts it from zero);
3. checks the size against ``Content-Length`` and the SHA-256 against the expected digest
   (given, or read from ``<url>.sha256`` when ``checksum="sidecar"``);
4. renames the part into place atomically (``os.replace``) and writes ``<name>.sha256``
   (atomically, through :mod:`permamap.fileio`).

A failed check deletes the part and raises; an interrupted transfer keeps the part for the next
call to resume. Partial outputs never carry the final name. Files go to ``cache_dir`` when given,
else to :func:`default_cache_dir` (``$PERMAMAP_CACHE_DIR/downloads``, see :mod:`permamap.cache`).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from permamap.cache import downloads_dir
from permamap.errors import ConfigError, InputFileError
from permamap.fileio import atomic_write_text

__all__ = [
    "ChecksumError",
    "DownloadError",
    "NotFoundError",
    "default_cache_dir",
    "download",
    "file_sha256",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_SHA_RE = re.compile(r"\b([0-9a-fA-F]{64})\b")
USER_AGENT = "permamap-downloader (+https://github.com/permamap)"


class DownloadError(InputFileError):
    """A download failed (network, HTTP status, size or checksum)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256."""


class NotFoundError(DownloadError):
    """The server answered 404: the file does not exist (e.g. a DEM tile over the ocean)."""


def default_cache_dir() -> Path:
    """Download cache: ``downloads/`` in :func:`permamap.cache.cache_dir` (``$PERMAMAP_CACHE_DIR``).

    Raises :class:`~permamap.errors.ConfigError` when the retired ``PERMAMAP_DATA_DIR`` is set
    (see :mod:`permamap.cache`).
    """
    return downloads_dir()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_sidecar(path: Path, digest: str) -> None:
    atomic_write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")


def _read_sidecar(path: Path) -> str | None:
    side = path.with_name(path.name + ".sha256")
    if not side.is_file():
        return None
    m = _SHA_RE.search(side.read_text())
    return m.group(1).lower() if m else None


def _open(url: str, start: int, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start > 0:
        req.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(req, timeout=timeout)


def _fetch_sidecar_digest(url: str, timeout: float) -> str:
    side_url = url + ".sha256"
    try:
        with _open(side_url, 0, timeout) as resp:
            text = resp.read(4096).decode("ascii", "replace")
    except urllib.error.URLError as exc:
        raise DownloadError(
            f"checksum file {side_url} could not be fetched ({exc}); pass the digest with "
            "sha256=... or use checksum='none' to trust the transfer"
        ) from exc
    m = _SHA_RE.search(text)
    if not m:
        raise DownloadError(
            f"checksum file {side_url} holds no SHA-256 hex digest; pass sha256=... instead"
        )
    return m.group(1).lower()


def _transfer(url: str, part: Path, timeout: float, progress: bool, desc: str) -> int | None:
    """Append the rest of ``url`` to ``part``; return the total size when the server told it."""
    start = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, start, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start > 0:  # range past the end: the part is already complete
            log.info("%s: the partial download is already complete", part.name)
            return start
        if exc.code == 404:
            raise NotFoundError(
                f"{url} does not exist on the server (HTTP 404); check the product name, version "
                "and year, or the tile name"
            ) from exc
        raise DownloadError(
            f"{url} answered HTTP {exc.code} {exc.reason}; try again later"
        ) from exc
    with resp:
        status = getattr(resp, "status", 200)
        length = resp.headers.get("Content-Length")
        if start > 0 and status == 206:
            mode = "ab"
            total = start + int(length) if length is not None else None
            log.info("resuming %s at byte %d", part.name, start)
        else:
            if start > 0:
                log.info("%s ignores HTTP ranges; restarting %s from zero", url, part.name)
            start, mode = 0, "wb"
            total = int(length) if length is not None else None
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=desc,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                fh.write(block)
                bar.update(len(block))
    return total


def download(
    url: str,
    cache_dir: Path | str | None = None,
    filename: str | None = None,
    sha256: str | None = None,
    checksum: Literal["given", "sidecar", "none"] = "given",
    progress: bool = False,
    retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` into the cache, resumable and checksummed; return the local path.

    Parameters
    ----------
    url : str
        HTTP(S) address.
    cache_dir : path, optional
        Folder for the file (default :func:`default_cache_dir`); created when missing.
    filename : str, optional
        Local name (default: the last part of the URL path). May contain sub-folders.
    sha256 : str, optional
        Expected hex digest. When given, the cached file and the download are checked against it.
    checksum : {"given", "sidecar", "none"}
        ``"sidecar"`` reads the expected digest from ``<url>.sha256``; ``"given"`` uses ``sha256``
        when present; ``"none"`` only checks the size.
    progress : bool
        Show a tqdm progress bar.
    retries : int
        Attempts after a dropped connection; each resumes where the last stopped.
    timeout : float
        Seconds to wait for the server per request.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    NotFoundError
        HTTP 404.
    DownloadError
        Other HTTP errors, a connection that keeps dropping (the part is kept for resuming), a
        short file, or a checksum mismatch (the part is deleted).
    """
    if checksum not in ("given", "sidecar", "none"):
        raise ConfigError(f"checksum {checksum!r} must be 'given', 'sidecar' or 'none'")
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ConfigError(f"sha256 {sha256!r} is not a 64-character hex digest; copy it again")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = filename or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    if not name:
        raise ConfigError(f"cannot derive a file name from {url!r}; pass filename=...")
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256.lower() if sha256 else None

    if target.is_file():
        known = expected or _read_sidecar(target)
        if known is None or file_sha256(target) == known:
            log.debug("using cached %s", target)
            if known is None:
                _write_sidecar(target, file_sha256(target))
            return target
        log.warning("cached %s does not match its checksum; downloading it again", target)
        target.unlink()

    if expected is None and checksum == "sidecar":
        expected = _fetch_sidecar_digest(url, timeout)

    part = target.with_name(target.name + ".part")
    total: int | None = None
    size = 0
    for attempt in range(retries + 1):
        try:
            total = _transfer(url, part, timeout, progress, desc=name)
        except DownloadError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if attempt == retries:
                got = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"downloading {url} failed after {attempt + 1} attempt(s) ({exc}); "
                    f"{got} bytes are kept in {part}; run the same command again to resume"
                ) from exc
            log.warning("download of %s dropped (%s); resuming (attempt %d)", url, exc, attempt + 2)
            time.sleep(min(2.0**attempt, 10.0) * 0.1)
            continue
        size = part.stat().st_size if part.exists() else 0
        if total is None or size >= total:
            break
        if attempt < retries:
            log.warning("download of %s stopped at %d of %d bytes; resuming", url, size, total)
    if total is not None and size < total:
        raise DownloadError(
            f"downloading {url} stopped at {size} of {total} bytes; {part} is kept: run the same "
            "command again to resume"
        )
    if total is not None and size > total:
        part.unlink()
        raise DownloadError(
            f"{url}: received {size} bytes but the server announced {total}; the partial file was "
            "deleted, run the command again"
        )
    digest = file_sha256(part)
    if expected is not None and digest != expected:
        part.unlink()
        raise ChecksumError(
            f"{url}: SHA-256 {digest} does not match the expected {expected}; the download was "
            "deleted. Run again; if it persists the file changed on the server: update the digest"
        )
    # Not fileio.atomic_path: the part is this download's resumable state, under a fixed name that
    # outlives a failed call (a Range request resumes it), whereas atomic_path's temporary file is
    # random and removed on failure. The rename itself is the same atomic os.replace.
    os.replace(part, target)
    _write_sidecar(target, digest)
    log.info("downloaded %s (%d bytes, sha256 %s)", target, size, digest[:12])
    return target
