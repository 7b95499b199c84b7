"""Fixtures for the browser tests: the page served from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from browser import INSTALL_HINT
from voxplug.room.devserver import REPO
from voxplug.web import STATIC_DIR


@pytest.fixture(scope="session")
def wheel_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """voxplug built as a wheel (offline) and installed alone into a folder, for PYTHONPATH."""
    for name in ("index.html", "app.js", "app.css"):
        if not (STATIC_DIR / name).is_file():
            pytest.fail(f"the page is not built ({STATIC_DIR / name} missing): {INSTALL_HINT}", pytrace=False)
    root = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    offline = ["--no-deps", "--no-index", "--no-build-isolation"]
    build = subprocess.run([*pip, "wheel", *offline, "-w", str(root), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    [wheel] = root.glob("voxplug-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"voxplug/web/static/index.html", "voxplug/web/static/app.js", "voxplug/web/static/app.css"} <= names
    site = root / "site"
    install = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return site
