"""The package's build backend: setuptools', refusing to build a wheel or an sdist without the built pages.

The notification center (``/``) and the live dashboard (``/dashboard``) are the TypeScript client's Vite build
(``make webapp``, Node.js 20+ with npm), written into ``src/arda/notifications/webapp/`` and shipped inside the
package. A wheel or an sdist built before them would install a service whose pages only say "not built", so
``python -m build`` and ``pip wheel .`` stop with one line saying what to run — unless
``ARDA_BUILD_WITHOUT_PAGES=1`` asks for such a package on purpose. Editable installs (``pip install -e .``,
what ``make`` does) are not checked: they serve the pages from the work tree once built.

A wheel built from the sdist finds the pages in it (the sdist carries them).
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every other hook is setuptools' own

PAGES = Path("src") / "arda" / "notifications" / "webapp"
#: What the Vite build writes (app/index.html and app/dashboard.html, their shared assets).
BUILT = ("index.html", "dashboard.html", "assets")
WITHOUT_PAGES = "ARDA_BUILD_WITHOUT_PAGES"


def check_pages(root: Path = Path()) -> None:
    """Stop the build (one line on stderr) when the pages are not built, unless ``ARDA_BUILD_WITHOUT_PAGES=1``."""
    if os.environ.get(WITHOUT_PAGES) == "1":
        return
    missing = [name for name in BUILT if not (root / PAGES / name).exists()]
    if missing:
        raise SystemExit(
            f"arda-realtime: the pages are not built ({PAGES.as_posix()}/ lacks {', '.join(missing)}): run "
            f"`make webapp` first (Node.js 20+ with npm), or set {WITHOUT_PAGES}=1 to build without them"
        )


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, str | list[str]] | None = None,
    metadata_directory: str | None = None,
) -> str:
    check_pages()
    return str(_setuptools.build_wheel(wheel_directory, config_settings, metadata_directory))


def build_sdist(sdist_directory: str, config_settings: dict[str, str | list[str]] | None = None) -> str:
    check_pages()
    return str(_setuptools.build_sdist(sdist_directory, config_settings))
