"""Development credentials: a JWT secret and an API key generated once and kept in ``ARDA_STATE_DIR``
(default ``.arda/``, mode 0600), so ``make run`` works with no configuration and ``arda token`` /
``arda publish`` / ``arda tail`` can use the same secrets. Never used when real ones are configured.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import NamedTuple

FILE = "dev-credentials.json"


class DevCredentials(NamedTuple):
    jwt_secret: str
    api_key: str


def load_or_create(state_dir: str) -> DevCredentials:
    path = Path(state_dir) / FILE
    if path.is_file():
        data = json.loads(path.read_text())
        return DevCredentials(data["jwtSecret"], data["apiKey"])
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = DevCredentials(secrets.token_urlsafe(48), "dev_" + secrets.token_urlsafe(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"jwtSecret": creds.jwt_secret, "apiKey": creds.api_key}, fh)
    return creds


def load(state_dir: str) -> DevCredentials | None:
    path = Path(state_dir) / FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return DevCredentials(data["jwtSecret"], data["apiKey"])
