"""Development credentials: a JWT secret and an API key generated once by ``arda serve`` in development mode
and kept in the per-user state directory (mode 0600), so ``make run`` works with no configuration and
``arda token`` / ``arda publish`` / ``arda tail`` — from any working directory — use the same secrets. Never used
when real ones are configured.

The state directory is ``$ARDA_STATE_DIR`` (``--state-dir``), else ``$XDG_STATE_HOME/arda``, else
``~/.local/state/arda`` (the XDG base directory specification's default).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError

FILE = "dev-credentials.json"


class DevCredentials(NamedTuple):
    jwt_secret: str
    api_key: str


def default_state_dir(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_STATE_HOME/arda``, else ``~/.local/state/arda`` (a relative ``XDG_STATE_HOME`` is ignored, as the
    specification says). Raises :class:`ConfigError` when there is no home directory to put it in."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return str(Path(xdg) / "arda")
    try:
        home = Path.home()
    except RuntimeError:
        raise ConfigError("no home directory for the development credentials: set ARDA_STATE_DIR") from None
    return str(home / ".local" / "state" / "arda")


def state_dir(given: str | None = None) -> str:
    """``given`` (a ``--state-dir`` flag), else ``$ARDA_STATE_DIR``, else :func:`default_state_dir`."""
    return given or os.environ.get("ARDA_STATE_DIR") or default_state_dir()


def load_or_create(directory: str) -> DevCredentials:
    """The credentials kept in ``directory``, generated there first if there are none. Raises
    :class:`ConfigError` when they cannot be read or written."""
    path = Path(directory) / FILE
    creds = load(directory)
    if creds is not None:
        return creds
    creds = DevCredentials(secrets.token_urlsafe(48), "dev_" + secrets.token_urlsafe(32))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another service made them meanwhile: use theirs
        made = load(directory)
        if made is None:
            raise ConfigError(f"cannot keep the development credentials in {path}: not a file") from None
        return made
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the development credentials in {directory}: {exc.strerror} (ARDA_STATE_DIR / --state-dir)"
        ) from None
    with os.fdopen(fd, "w") as fh:
        json.dump({"jwtSecret": creds.jwt_secret, "apiKey": creds.api_key}, fh)
    return creds


def load(directory: str) -> DevCredentials | None:
    """The credentials kept in ``directory``, or None if there are none yet. Raises :class:`ConfigError` when
    the file cannot be read or is not what ``arda serve`` writes."""
    path = Path(directory) / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return DevCredentials(str(data["jwtSecret"]), str(data["apiKey"]))
    except OSError as exc:
        raise ConfigError(f"cannot read the development credentials {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"the development credentials {path} are damaged: delete the file and start `arda serve` again"
        ) from None
