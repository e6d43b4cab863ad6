"""The processes under test: a private redis-server and `arda serve`, started, pinned, watched and stopped.

Also the /proc readers (CPU seconds, RSS) and the guard that stops both even if this process is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from arda.testing.cluster import ClusterSetup
from arda.testing.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
ARDA = ROOT / ".venv" / "bin" / "arda"
PYTHON = ROOT / ".venv" / "bin" / "python"
#: How the service is started. `arda`: as documented (`arda serve`, on uvloop). The others are workarounds
#: for running the benchmark against a service that fails as `arda serve`: `python-O` is the same program
#: with assertions off; `asyncio` hides uvloop so `arda serve` falls back to the standard event loop.
LAUNCHERS: dict[str, list[str]] = {
    "arda": [str(ARDA)],
    "python-O": [str(PYTHON), "-O", "-m", "arda"],
    "asyncio": [str(PYTHON), "-c", "import sys; sys.modules['uvloop'] = None; import arda.__main__"],
}
PEERS = ROOT / "bench" / "peers"
NODE_PEER = PEERS / "node_socketio"
#: The peers: how each is started (cwd, command); configured by PORT, REDIS_URL and JWT_SECRET.
PEER_COMMANDS: dict[str, tuple[Path, list[str]]] = {
    "python-socketio": (PEERS / "python_socketio", [str(PYTHON), "app.py"]),
    "node-socketio": (NODE_PEER, ["node", "server.mjs"]),
    "django-channels": (PEERS / "django_channels", [str(PYTHON), "peer.py"]),
}
SERVICE_CORE = 0
LOAD_CORE = 1
_PR_SET_PDEATHSIG = 1

# A tiny process that outlives us only to clean up: when its stdin closes without "done" (we died, even by
# SIGKILL), it terminates the pids it was given. It must not stay around itself: it exits right after.
_REAPER = """
import os, signal, sys, time
pids = [int(p) for p in sys.argv[1:]]
signal.signal(signal.SIGINT, signal.SIG_IGN)
if sys.stdin.read().strip() != "done":
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    time.sleep(3)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


def pin(pid: int, core: int) -> bool:
    """Pin ``pid`` (0: this process) to one core, when the machine has it. True when pinned."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return False
    try:
        os.sched_setaffinity(pid, {core})  # not limited to this process's own affinity (the parent is pinned)
    except OSError:
        return False
    return True


def raise_nofile(wanted: int = 1 << 20) -> int:
    """Raise this process's open-file limit (inherited by the service and the load processes): to ``wanted``
    where allowed (root may raise the hard limit up to fs.nr_open), else to the hard limit. Returns the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, nr_open), min(wanted, nr_open)))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the child when this process dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _service_child() -> None:
    """preexec_fn of the server under test: die with this process, and run on the service core from the start,
    so every thread it ever creates (Node's libuv pool and V8 helpers too) is on that core."""
    _die_with_parent()
    pin(0, SERVICE_CORE)


def _workers_child() -> None:
    """preexec_fn of ``arda serve --workers N``: die with this process; every core (the workers spread)."""
    _die_with_parent()
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))  # not the load core this process is pinned to


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and of its living descendants (the workers of ``--workers``), from /proc, in
    seconds."""
    total = 0.0
    for each in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{each}/stat").read_text()
            fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is field 3 (state)
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15
    return total


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy, total) jiffies since boot, from /proc/stat (busy excludes idle and iowait)."""
    times: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            numbers = [int(v) for v in values]
            total = sum(numbers[:8])  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (total - numbers[3] - numbers[4], total)
    return times


def core_busy(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict[str, float]:
    """Share of each core's time spent busy between two :func:`core_times` readings."""
    busy = {}
    for core, (b1, t1) in after.items():
        b0, t0 = before.get(core, (0, 0))
        busy[f"core{core}"] = round((b1 - b0) / (t1 - t0), 3) if t1 > t0 else 0.0
    return busy


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and of its living descendants (the workers of ``--workers``) in KiB, from
    /proc/<pid>/status."""
    total = 0
    for each in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError):
            match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{each}/status").read_text(), re.MULTILINE)
            total += int(match.group(1)) if match else 0
    return total


def listen_overflows() -> int:
    """The kernel's TcpExt ListenOverflows counter (system-wide): connections dropped because a listening
    socket's accept queue was full. 0 if unreadable."""
    try:
        lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names and names[0] == "TcpExt:" and "ListenOverflows" in names:
            return int(values[names.index("ListenOverflows")])
    return 0


def listen_backlog(port: int) -> int | None:
    """The accept-queue limit of the socket listening on 127.0.0.1:``port`` (``Send-Q`` of ``ss -ltn``)."""
    try:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    fields = out.split()
    return int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None


def open_fds_limit(pid: int) -> int:
    """The soft 'Max open files' of ``pid``, from /proc/<pid>/limits (0 if unknown)."""
    match = re.search(r"^Max open files\s+(\d+)", Path(f"/proc/{pid}/limits").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _raised_at(traceback: str) -> str:
    """`` (raised at src/…:N)``: the innermost frame of the project's own code in a logged traceback."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', traceback)
    ours = [(path, line) for path, line in frames if path.startswith(str(ROOT / "src"))]
    if not ours:
        return ""
    path, line = ours[-1]
    return f" (raised at {Path(path).relative_to(ROOT)}:{line})"


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


class ServiceError(RuntimeError):
    """The service failed to start or died; the message carries the tail of its stderr."""


class Service:
    """``arda serve`` on free ports against ``redis_url``, pinned to core 0, stderr captured to a file."""

    def __init__(
        self, redis_url: str, secret: str, api_key: str, log_dir: Path, name: str, launcher: str, workers: int = 1
    ) -> None:
        self.launcher = launcher
        self.workers = workers
        self.redis_url = redis_url
        self.secret = secret
        self.api_key = api_key
        self.port = free_port()
        self.http_port = free_port()
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pinned = False
        self.affinity: list[int] = []
        self.log_mode = "wb"  # "ab" once restarted (reconnect_storm): one log for both lives

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> Service:
        args = [*LAUNCHERS[self.launcher], "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--http-port", str(self.http_port), "--redis-url", self.redis_url, f"--jwt-secret={self.secret}"]
        args += [f"--api-key={self.api_key}", "--dev", "false", "--max-connections-per-ip", "100000"]
        args += ["--log-level", "warning"]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARDA_")}
        child = _service_child if self.workers == 1 else _workers_child
        with self.stderr_path.open(self.log_mode) as stderr:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, env=env, preexec_fn=child
            )
        self.pinned = self.workers == 1 and pin(self.proc.pid, SERVICE_CORE)
        if self.pinned:
            self.affinity = sorted(os.sched_getaffinity(self.proc.pid))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServiceError(f"arda serve exited with {self.proc.returncode}\n{self.stderr_tail()}")
            if self._ready():
                return self
            if time.monotonic() > deadline:
                raise ServiceError(f"arda serve not ready within {timeout:g} s\n{self.stderr_tail()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        if not http_ok(f"http://127.0.0.1:{self.http_port}/readyz"):
            return False
        if self.workers == 1:
            return True
        try:  # every worker up (each answers for all once they have found each other)
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2) as response:
                return len(json.loads(response.read()).get("workers", [])) == self.workers
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> dict[str, float]:
        """The service's failure, disconnect, delivery and bus counters from /metrics (empty if unreachable)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return {}
        wanted = ("arda_failures_total", "arda_disconnects_total", "arda_deliveries_total", "arda_bus_")
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(wanted) and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    if float(value):
                        found[name] = float(value)
        return found

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no stderr captured)"
        tail = text.splitlines()[-lines:]
        return "\n".join(f"    | {line}" for line in tail) if tail else "    | (stderr empty)"

    def stderr_summary(self, limit: int = 8) -> list[str]:
        """The service's log lines grouped by (level, logger, message), most frequent first, each with a count
        and where its exception, if any, was raised."""
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        groups: dict[tuple[str, str, str], list[Any]] = {}
        for line in lines:
            try:
                record = json.loads(line)
                logger = re.sub(r"\.\d+$", ".N", str(record.get("logger")))  # picows.server.<connection>
                key = (str(record.get("level")), logger, str(record.get("msg")).splitlines()[0])
                exc = str(record.get("exc") or "")
            except (ValueError, AttributeError, IndexError):
                key, exc = ("raw", "", line[:200]), ""
            group = groups.setdefault(key, [0, exc])
            group[0] += 1
        summary = []
        for (level, logger, msg), (count, exc) in sorted(groups.items(), key=lambda kv: -int(kv[1][0]))[:limit]:
            text = f"{count}× {level} {logger}: {msg}"
            if exc:
                text += f" — {exc.strip().splitlines()[-1]}" + _raised_at(exc)
            summary.append(text)
        return summary

    def stderr_lines(self) -> int:
        try:
            return len(self.stderr_path.read_text(errors="replace").splitlines())
        except OSError:
            return 0

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait for the graceful stop, SIGKILL after ``timeout``. The exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class PeerService(Service):
    """A peer (``bench/peers/…``) on a free port against ``redis_url``, pinned to core 0; ready when
    ``GET /healthz`` answers 200. Its stdout (``listening <port>``) and stderr go to one log file."""

    def __init__(self, redis_url: str, secret: str, log_dir: Path, name: str, system: str) -> None:
        super().__init__(redis_url, secret, "", log_dir, name, "arda")
        self.system = system
        self.http_port = self.port

    @property
    def url(self) -> str:
        if self.system == "django-channels":
            return f"ws://127.0.0.1:{self.port}/ws"
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def start(self, timeout: float = 30.0) -> Service:
        cwd, args = PEER_COMMANDS[self.system]
        env = dict(os.environ, PORT=str(self.port), REDIS_URL=self.redis_url, JWT_SECRET=self.secret)
        env["NODE_ENV"] = "production"
        with self.stderr_path.open(self.log_mode) as log:
            self.proc = subprocess.Popen(
                args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, preexec_fn=_service_child
            )
        self.pinned = pin(self.proc.pid, SERVICE_CORE)
        if self.pinned:
            self.affinity = sorted(os.sched_getaffinity(self.proc.pid))
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.system} exited with {self.proc.returncode}\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.system} not ready within {timeout:g} s\n{self.stderr_tail()}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/healthz")

    def metrics(self) -> dict[str, float]:
        return {}

    def stderr_lines(self) -> int:
        """Lines of its log other than the ``listening <port>`` line."""
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        return sum(not line.startswith("listening ") for line in lines)


class Stack:
    """Redis and a reaper for the run; services come and go inside it. A context manager: everything stops
    on exit, also on an exception or Ctrl-C."""

    def __init__(
        self, launcher: str = "arda", system: str = "arda", workers: int = 1, topology: str = "single"
    ) -> None:
        if topology not in ("single", "cluster"):
            raise ValueError(f"topology: single or cluster, got {topology!r}")
        if topology == "cluster" and system != "arda":
            raise ValueError("the peers run on one Redis only: --topology cluster is for arda")
        self.topology = topology
        self.cluster: ClusterSetup | None = None
        self.launcher = launcher
        self.workers = workers
        self.system = system
        self.log_dir = Path(tempfile.mkdtemp(prefix="arda-bench-ws-"))
        self.secret = secrets.token_urlsafe(48)
        self.api_key = secrets.token_urlsafe(24)
        self.redis: RedisServer | None = None
        self.redis_version = "?"
        self.services: list[Service] = []
        self._reapers: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Stack:
        if self.topology == "cluster":
            return self._enter_cluster()
        self.redis = RedisServer().start()
        assert self.redis.proc is not None
        self._guard(self.redis.proc.pid)
        pin(self.redis.proc.pid, LOAD_CORE)
        client = self.redis.client()
        # as bench/bus.py: a subscriber that falls behind under a flood is not cut off by Redis's 32 MB default
        client.config_set("client-output-buffer-limit", "pubsub 256mb 64mb 60")
        self.redis_version = str(client.info("server")["redis_version"])
        client.close()
        return self

    def _enter_cluster(self) -> Stack:
        """Three primaries without replicas (the load core has enough to do), each pinned to the load core."""
        try:
            self.cluster = ClusterSetup(3, 0).start()
            for node in self.cluster.nodes:
                assert node.process is not None
                self._guard(node.process.pid)
                pin(node.process.pid, LOAD_CORE)
                self.cluster.command(node, "CONFIG", "SET", "client-output-buffer-limit", "pubsub 256mb 64mb 60")
            info = self.cluster.client(self.cluster.nodes[0]).info("server")
            self.redis_version = f"{info['redis_version']} (cluster of 3 primaries)"
        except BaseException:
            if self.cluster is not None:
                self.cluster.stop()
            raise
        return self

    @property
    def redis_url(self) -> str:
        if self.cluster is not None:
            return self.cluster.url
        assert self.redis is not None
        return self.redis.url

    def service(self, name: str) -> Service:
        service: Service
        if self.system == "arda":
            service = Service(
                self.redis_url, self.secret, self.api_key, self.log_dir, name, self.launcher, self.workers
            )
        else:
            service = PeerService(self.redis_url, self.secret, self.log_dir, name, self.system)
        self.services.append(service)
        return self._start(service)

    def restart(self, service: Service) -> Service:
        """Start a stopped ``service`` again on the same ports (its log appended to), guarded as the first."""
        service.log_mode = "ab"
        return self._start(service)

    def _start(self, service: Service) -> Service:
        try:
            service.start()
        finally:
            if service.proc is not None:
                self._guard(service.proc.pid)
        return service

    def flush_redis(self) -> None:
        if self.cluster is not None:
            for node in self.cluster.primaries():
                self.cluster.command(node, "FLUSHALL")
        if self.redis is not None:
            client = self.redis.client()
            client.flushall()
            client.close()

    def _guard(self, pid: int) -> None:
        reaper = subprocess.Popen(
            [sys.executable, "-c", _REAPER, str(pid)], stdin=subprocess.PIPE, start_new_session=True
        )
        self._reapers.append(reaper)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for service in self.services:
            service.stop()
        if self.redis is not None:
            self.redis.close()
        if self.cluster is not None:
            self.cluster.stop()
        for reaper in self._reapers:  # everything is stopped: tell the reapers not to act
            with contextlib.suppress(OSError, ValueError):
                assert reaper.stdin is not None
                reaper.stdin.write(b"done")
                reaper.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                reaper.wait(5)
