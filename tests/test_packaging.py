"""The package as a user gets it: the sdist and the wheel are built from the repository's files (``python -m
build``: the sdist, then the wheel from the sdist), hold the built pages, ``openapi.yaml`` and ``LICENSE``, and
the wheel installed in a fresh virtual environment (its dependencies from the package index) is the bus alone
without the ``service`` extra — ``arda serve`` says in one line which extra to install — and the whole service
with it: the installed ``arda serve --dev`` serves the notification center at ``/`` and the dashboard at
``/dashboard``. About a minute; it needs the package index and, when the pages are not built yet, Node.js with
npm (``make webapp`` builds them)."""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import aiohttp
import pytest

from arda.testing.redis_server import free_port
from service_process import wait_ready

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "src" / "arda" / "notifications" / "webapp"
VERSION = "0.1.0"
INSTALL_SERVICE = "pip install 'arda-realtime[service]'"
#: Importable only with the ``service`` extra.
SERVICE_ONLY = ("aiohttp", "jwt", "cryptography", "prometheus_client", "httptools", "uvloop")


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run ``command``; its output (stdout and stderr), or a failure that shows it."""
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the work tree on the path (the installed package must be the one imported) and
    without the service's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("ARDA_")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def source_tree(dest: Path, *, pages: bool) -> Path:
    """The repository's files as a checkout has them (tracked, and new ones not ignored), with or without the
    built pages (git-ignored): what the build sees in CI."""
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if pages:
        shutil.copytree(PAGES, dest / PAGES.relative_to(ROOT))
    return dest


@pytest.fixture(scope="module")
def built_pages() -> Path:
    """The notification center and the dashboard, built by ``make webapp`` when they are not yet."""
    if not all((PAGES / name).exists() for name in ("index.html", "dashboard.html", "assets")):
        run("make", "--no-print-directory", "webapp", cwd=ROOT)
    assert (PAGES / "index.html").is_file()
    return PAGES


@pytest.fixture(scope="module")
def dist(built_pages: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built from the repository's files with the pages."""
    tree = source_tree(tmp_path_factory.mktemp("source"), pages=True)
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, tree, env=clean_env())
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def page_files() -> set[str]:
    """The built pages, relative to the webapp directory: index.html, dashboard.html and every asset."""
    return {p.relative_to(PAGES).as_posix() for p in PAGES.rglob("*") if p.is_file()}


def test_the_build_refuses_without_the_pages_unless_told(tmp_path: Path) -> None:
    tree = source_tree(tmp_path / "source", pages=False)
    refused = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path / "out"), str(tree)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode != 0
    (line,) = [line for line in (refused.stdout + refused.stderr).splitlines() if line.startswith("arda-realtime:")]
    assert "the pages are not built" in line
    assert "make webapp" in line
    assert "ARDA_BUILD_WITHOUT_PAGES=1" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    without = clean_env(ARDA_BUILD_WITHOUT_PAGES="1")
    run(sys.executable, "-m", "build", "--sdist", "--outdir", tmp_path / "out", tree, env=without)
    (sdist,) = (tmp_path / "out").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        assert not [n for n in archive.getnames() if "/webapp/" in n]


def test_both_archives_hold_the_pages_the_api_description_the_license_and_the_metadata(dist: tuple[Path, Path]) -> None:
    sdist, wheel = dist
    pages = page_files()
    assert {"index.html", "dashboard.html"} <= pages
    assert any(name.startswith("assets/") and name.endswith(".js") for name in pages)

    top = f"arda_realtime-{VERSION}"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    assert {f"{top}/src/arda/notifications/webapp/{name}" for name in pages} <= names
    assert {f"{top}/src/arda/notifications/openapi.yaml", f"{top}/LICENSE", f"{top}/tools/arda_build.py"} <= names
    assert not [n for n in names if "/tests/" in n or "node_modules" in n or "/clients/" in n]

    with zipfile.ZipFile(wheel) as zipped:
        names = set(zipped.namelist())
        metadata = email.parser.Parser().parsestr(zipped.read(f"{top}.dist-info/METADATA").decode())
        license_text = zipped.read(f"{top}.dist-info/licenses/LICENSE").decode()
    assert {f"arda/notifications/webapp/{name}" for name in pages} <= names
    assert {"arda/notifications/openapi.yaml", "arda/py.typed"} <= names
    assert "Apache License" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls["Source"] == "https://github.com/arda-realtime/arda-realtime"
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "websocket" in (metadata["Keywords"] or "")
    requires = metadata.get_all("Requires-Dist") or []

    def name(requirement: str) -> str:
        found = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert found is not None, requirement
        return found.group()

    bus = sorted(name(r) for r in requires if "extra ==" not in r)
    assert bus == ["hiredis", "msgspec", "redis"]
    service = {name(r) for r in requires if 'extra == "service"' in r}
    assert service == {"httptools", "aiohttp", "pyjwt", "prometheus-client", "uvloop"}


async def test_the_wheel_in_a_fresh_venv_is_the_bus_alone_then_the_service(
    dist: tuple[Path, Path], tmp_path: Path
) -> None:
    _, wheel = dist
    env = clean_env(ARDA_STATE_DIR=str(tmp_path / "state"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, arda = venv / "bin" / "python", venv / "bin" / "arda"

    # without the extra: msgspec, redis and hiredis only; the bus works, the service says what to install
    run(python, "-m", "pip", "install", "--quiet", wheel, env=env)
    probe = f"import importlib.util as u; print([m for m in {SERVICE_ONLY!r} if u.find_spec(m)])"
    assert run(python, "-c", probe, env=env, cwd=tmp_path).strip() == "[]"
    where = run(python, "-c", "import arda, arda.events.sync; print(arda.__file__)", env=env, cwd=tmp_path)
    assert where.strip().startswith(str(venv))  # the installed package, not the work tree
    demo = subprocess.run([arda, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert demo.returncode == 0, demo.stderr
    assert len(demo.stdout.splitlines()) == 5
    bare = subprocess.run([arda, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 4
    (line,) = bare.stderr.splitlines()
    assert INSTALL_SERVICE in line

    # with it: the installed service serves both pages, byte for byte the build's
    run(python, "-m", "pip", "install", "--quiet", f"{wheel}[service]", env=env)
    ws, http = free_port(), free_port()
    serve = subprocess.Popen(
        [arda, "serve", "--dev", "--port", str(ws), "--http-port", str(http)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_ready(http, serve, timeout=30)
        async with aiohttp.ClientSession() as session:
            for path, page in (("/", "index.html"), ("/dashboard", "dashboard.html")):
                async with session.get(f"http://127.0.0.1:{http}{path}") as resp:
                    assert resp.status == 200
                    assert resp.content_type == "text/html"
                    assert await resp.read() == (PAGES / page).read_bytes()
            asset = next(p for p in sorted(page_files()) if p.startswith("assets/") and p.endswith(".js"))
            async with session.get(f"http://127.0.0.1:{http}/{asset}") as resp:
                assert resp.status == 200
                assert await resp.read() == (PAGES / asset).read_bytes()
            async with session.get(f"http://127.0.0.1:{http}/openapi.yaml") as resp:
                assert resp.status == 200
                assert await resp.text() == (ROOT / "src" / "arda" / "notifications" / "openapi.yaml").read_text()
    finally:
        serve.terminate()
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    assert "Traceback" not in err
