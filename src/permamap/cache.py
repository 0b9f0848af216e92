"""The cache folder: one environment variable, ``PERMAMAP_CACHE_DIR``, for everything permamap caches.

::

    $PERMAMAP_CACHE_DIR/            (default ~/.cache/permamap)
      globe_land_bits_v1.npy        the land mask as packed bits (permamap.landmask)
      ...                           other derived caches (e.g. the virtual world's layers)
      downloads/                    downloaded source data (permamap.covariates.download)

``PERMAMAP_DATA_DIR``, which once named the downloads folder on its own, is no longer read: when it
is set to anything but ``$PERMAMAP_CACHE_DIR/downloads`` the cache functions raise, naming the fix,
rather than put downloads somewhere the user did not expect.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["CACHE_ENV", "cache_dir", "downloads_dir"]

CACHE_ENV = "PERMAMAP_CACHE_DIR"
"""The environment variable that moves the cache folder."""

_RETIRED_DOWNLOADS_ENV = "PERMAMAP_DATA_DIR"


def _root() -> Path:
    value = os.environ.get(CACHE_ENV)
    return Path(value) if value else Path.home() / ".cache" / "permamap"


def _check_retired_variable(root: Path) -> None:
    """Refuse a set ``PERMAMAP_DATA_DIR`` that points anywhere but the downloads folder."""
    legacy = os.environ.get(_RETIRED_DOWNLOADS_ENV)
    if not legacy:
        return
    downloads = root / "downloads"
    if Path(legacy).expanduser().resolve() == downloads.expanduser().resolve():
        return
    if os.environ.get(CACHE_ENV):
        fix = (
            f"unset {_RETIRED_DOWNLOADS_ENV}; downloads go to {downloads} (move files already in "
            f"{legacy} there once)"
        )
    else:
        parent = Path(legacy).parent
        fix = (
            f"set {CACHE_ENV} instead (e.g. {CACHE_ENV}={parent}: downloads then go to "
            f"{parent / 'downloads'}; move files already in {legacy} there once) and unset "
            f"{_RETIRED_DOWNLOADS_ENV}"
        )
    raise ConfigError(
        f"{_RETIRED_DOWNLOADS_ENV}={legacy} is no longer read: permamap keeps every cache under "
        f"{CACHE_ENV} (now {root}), downloads in its downloads/ subfolder; {fix}"
    )


def cache_dir() -> Path:
    """Folder for permamap's caches: ``$PERMAMAP_CACHE_DIR`` or ``~/.cache/permamap``; created.

    Raises
    ------
    ConfigError
        ``PERMAMAP_DATA_DIR`` is set to another folder than ``<cache>/downloads`` (it is no longer
        read; the message names the setting to use instead).

    Examples
    --------
    >>> downloads_dir() == cache_dir() / "downloads"
    True
    """
    root = _root()
    _check_retired_variable(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


def downloads_dir() -> Path:
    """Folder for downloaded source data: ``<cache_dir()>/downloads`` (created on first download)."""
    return cache_dir() / "downloads"
