"""The documentation stays true to the repository: no links out of it, every counted failure reason listed (and
given its zero series in /metrics)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from arda.notifications.codes import CLOSE_CODES, ERRORS, ErrorCode
from arda.notifications.metrics import FAILURE_REASONS

ROOT = Path(__file__).resolve().parent.parent


def tracked_text_files() -> list[Path]:
    names = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    )
    files = []
    for name in filter(None, names):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet in the index
        head = path.read_bytes()[:8192]
        if b"\0" not in head:
            files.append(path)
    return files


def test_no_tracked_file_mentions_a_directory_outside_the_repository() -> None:
    files = tracked_text_files()
    assert ROOT / "docs" / "service.md" in files  # the listing is real
    needle = "../" + "shared"  # spelled in two parts, so this file does not match itself
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if needle in line
    ]
    assert offenders == [], f"these lines point outside the repository: {offenders}"


def test_docs_list_every_failure_reason_the_service_counts() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "src" / "arda" / "notifications").glob("*.py"))
    # counted where it happens (failures.labels), by a session's Count action, or by a node-wide close
    counted = set(re.findall(r'(?:failures\.labels\(|Count\(|failure=)"([a-z_]+)"', sources))
    assert {"bus_gap", "inbound_budget", "bus_outage", "auth_timeout", "revoked"} <= counted  # the pattern finds them
    # ``Count(exc.error_code.value)``: a ProtocolError's or an AuthError's code
    assert "Count(exc.error_code.value)" in sources
    assert "Count(result.error_code.value)" in sources
    counted |= {ErrorCode.INVALID_MESSAGE, ErrorCode.UNKNOWN_TYPE, ErrorCode.UNAUTHORIZED, ErrorCode.TOKEN_EXPIRED}
    service = (ROOT / "docs" / "service.md").read_text()
    section = service.split("### Failure reasons", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^- `([a-z_]+)` — ", section, re.MULTILINE))
    assert sorted(counted - listed) == [], "docs/service.md does not explain these reasons"
    assert sorted(listed - counted) == [], "docs/service.md lists reasons the service never counts"
    # /metrics has a zero series for each reason from the start: the reasons the code counts, no others
    assert sorted(counted ^ set(FAILURE_REASONS)) == [], "metrics.FAILURE_REASONS is not what the code counts"


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip().strip("`") for cell in row] for row in rows[1:]]  # without the header


def test_the_protocol_tables_in_the_docs_are_the_code_tables() -> None:
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    close = [(int(r[0]), r[1], r[2], r[3] == "true") for r in _table_rows(protocol, "Close codes")]
    assert close == [(c.code, c.name, c.action, c.retry) for c in CLOSE_CODES]
    errors = [(r[0], r[1], r[2] == "true") for r in _table_rows(protocol, "Error codes")]
    assert errors == [(e.code.value, e.action, e.retry) for e in ERRORS]
