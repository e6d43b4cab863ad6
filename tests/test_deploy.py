"""The container files agree with the service: Dockerfile, docker-compose.events.yml, deploy/kubernetes.yaml.

No container engine runs here, so nothing is built or deployed: the files are read (YAML parsed, the Dockerfile's
instructions split) and compared with what the service itself says — the variables and defaults of `arda
config`, and the health routes of a real `arda serve`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from service_process import ARDA
from user_session import Service, start_service, stop_services, user_env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.events.yml"
KUBERNETES = ROOT / "deploy" / "kubernetes.yaml"
DOCKERFILE = ROOT / "Dockerfile"
NO_ENGINE = "No container engine runs where this repository is developed and tested"


@pytest.fixture(scope="module")
def settings() -> dict[str, str | None]:
    """`arda config`'s variables and their defaults (None: no default)."""
    table = subprocess.run([ARDA, "config"], capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"^\| `(ARDA_[A-Z0-9_]+)` \| `[^`]+` \| ([^|]+) \|", table, re.MULTILINE)
    found = {name: (None if default.strip() == "—" else default.strip().strip("`")) for name, default in rows}
    assert {"ARDA_PORT", "ARDA_HTTP_PORT", "ARDA_SHUTDOWN_TIMEOUT_S", "ARDA_REDIS_URL"} <= found.keys()
    return found


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def kubernetes() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in kubernetes() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"deploy/kubernetes.yaml: one {kind} {name}"
    return found[0]


def arda_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("image", "").startswith("arda-realtime")}


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def seconds(value: str | int) -> float:
    text = str(value)
    return float(text[:-1]) if text.endswith("s") else float(text)


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments left out)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_each_file_says_no_container_engine_runs_here() -> None:
    for path in (DOCKERFILE, COMPOSE, KUBERNETES):
        assert NO_ENGINE in " ".join(path.read_text().replace("#", " ").split()), path.name


# -- Dockerfile ---------------------------------------------------------------------------------------------
def test_the_dockerfile_builds_the_pages_in_node_and_runs_the_service_as_non_root(
    settings: dict[str, str | None],
) -> None:
    steps = dockerfile()
    stages = [(i, args) for i, (op, args) in enumerate(steps) if op == "FROM"]
    assert len(stages) == 3
    node, python, final = stages
    assert re.fullmatch(r"node:20\S* AS pages", node[1]), node
    node_runs = [args for op, args in steps[node[0] : python[0]] if op == "RUN"]
    assert node_runs == ["npm ci --no-audit --no-fund --loglevel=error", "npm run build:app"]
    # the build writes where the Python stage picks the pages up, and where the service serves them from
    vite = (ROOT / "clients" / "typescript" / "vite.app.config.ts").read_text()
    assert 'here("../../src/arda/notifications/webapp")' in vite
    python_steps = steps[python[0] : final[0]]
    assert ("COPY", "--from=pages /src/src/arda/notifications/webapp/ ./src/arda/notifications/webapp/") in python_steps
    assert ("RUN", "pip install --no-cache-dir --prefix=/install '.[service]'") in python_steps

    image = dict(steps[final[0] :])  # the final stage: its last instruction of each kind
    uid = re.search(r"--uid (\d+)", image["RUN"])
    assert uid is not None
    assert image["USER"] == f"{uid.group(1)}:{uid.group(1)}"  # numeric, not root
    assert uid.group(1) != "0"
    assert "ARDA_HOST=0.0.0.0" in image["ENV"]  # production by default (tests/test_security.py)
    assert sorted(image["EXPOSE"].split()) == sorted([str(settings["ARDA_PORT"]), str(settings["ARDA_HTTP_PORT"])])
    assert "/healthz" in image["HEALTHCHECK"]
    assert image["ENTRYPOINT"] == '["arda", "serve"]'
    for name in re.findall(r"(ARDA_[A-Z0-9_]+)=", image["ENV"]):
        assert name in settings, f"Dockerfile sets {name}, which `arda config` does not know"


def test_the_build_context_leaves_out_local_environments() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/node_modules", "src/arda/notifications/webapp"} <= set(ignored)


# -- docker-compose.events.yml ------------------------------------------------------------------------------
def test_compose_runs_redis_with_aof_and_two_instances_sharing_it(settings: dict[str, str | None]) -> None:
    services = compose()["services"]
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])  # the AOF outlives the container

    instances = arda_services()
    assert len(instances) >= 2
    published: list[str] = []
    for name, service in instances.items():
        env = service["environment"]
        unknown = sorted(set(env) - set(settings))
        assert unknown == [], f"{name}: variables `arda config` does not know: {unknown}"
        redis = urlsplit(env["ARDA_REDIS_URL"])
        assert (redis.hostname, redis.port) == ("redis", 6379)
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        shutdown = float(env.get("ARDA_SHUTDOWN_TIMEOUT_S") or settings["ARDA_SHUTDOWN_TIMEOUT_S"] or 0)
        assert seconds(service["stop_grace_period"]) > shutdown
        ports = {int(p.rsplit(":", 1)[1]): p for p in service["ports"]}
        assert set(ports) == {int(str(settings["ARDA_PORT"])), int(str(settings["ARDA_HTTP_PORT"]))}
        http = ports[int(str(settings["ARDA_HTTP_PORT"]))]
        assert http.startswith("127.0.0.1:"), f"{name}: the HTTP API is internal, published on 127.0.0.1 only"
        published += [p.rsplit(":", 1)[0] for p in service["ports"]]
    assert len(published) == len(set(published)), "two instances publish the same host port"


def test_compose_nginx_is_the_repositorys_balancer_in_front_of_the_instances(
    settings: dict[str, str | None],
) -> None:
    nginx = compose()["services"]["nginx"]
    assert nginx["profiles"] == ["proxy"]  # optional
    mounts = {v.split(":")[0]: v.split(":")[1] for v in nginx["volumes"]}
    for source in mounts:
        if source.endswith(".conf"):
            assert (ROOT / source).is_file(), source
    assert mounts["./deploy/nginx/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert mounts["./deploy/nginx/arda-websocket.conf"] == "/etc/nginx/arda-websocket.conf"  # its include
    upstreams = re.findall(r"^\s*server ([\w.-]+):(\d+)", (ROOT / "deploy" / "nginx" / "nginx.conf").read_text(), re.M)
    assert {host for host, _ in upstreams} == set(arda_services())
    assert {int(port) for _, port in upstreams} == {int(str(settings["ARDA_PORT"]))}


# -- deploy/kubernetes.yaml ---------------------------------------------------------------------------------
def test_kubernetes_runs_redis_with_aof_on_a_volume() -> None:
    redis = one("StatefulSet", "arda-redis")
    spec = redis["spec"]["template"]["spec"]["containers"][0]
    assert spec["args"][spec["args"].index("--appendonly") + 1] == "yes"
    assert spec["volumeMounts"][0]["mountPath"] == "/data"
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == spec["volumeMounts"][0]["name"]
    service = one("Service", "arda-redis")
    assert service["spec"]["ports"][0]["port"] == spec["ports"][0]["containerPort"] == 6379


def test_kubernetes_runs_two_replicas_that_match_the_service(settings: dict[str, str | None]) -> None:
    deployment = one("Deployment", "arda-notifications")
    assert deployment["spec"]["replicas"] >= 2
    arda = container(deployment, "arda")
    env = {e["name"]: e for e in arda["env"]}
    arda_names = {name for name in env if name.startswith("ARDA_")}
    assert sorted(arda_names - set(settings)) == [], "variables `arda config` does not know"
    for name in set(env) - arda_names:  # helpers, only to build an ARDA_* value from a secret
        assert any(f"$({name})" in e.get("value", "") for e in env.values()), f"{name} is set but never used"
    redis = urlsplit(env["ARDA_REDIS_URL"]["value"])
    assert (redis.hostname, redis.port) == ("arda-redis", 6379)
    assert env["ARDA_HOST"]["value"] == "0.0.0.0"

    ports = {p["name"]: p["containerPort"] for p in arda["ports"]}
    assert ports == {"ws": int(str(settings["ARDA_PORT"])), "http": int(str(settings["ARDA_HTTP_PORT"]))}
    assert arda["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert arda["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])

    # SIGTERM comes after preStop; the grace period covers both and the service's own shutdown bound
    pre_stop = arda["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    shutdown = float(env["ARDA_SHUTDOWN_TIMEOUT_S"]["value"])
    assert template["spec"]["terminationGracePeriodSeconds"] > float(pre_stop[1]) + shutdown

    # non-root, as the image's user
    security = template["spec"]["securityContext"]
    uid = re.search(r"--uid (\d+)", DOCKERFILE.read_text())
    assert uid is not None
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == int(uid.group(1))
    assert arda["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in arda["volumeMounts"]} >= {"/tmp"}  # ARDA_STATE_DIR is /tmp/arda in the image

    service = one("Service", "arda-notifications")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == ports
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


# -- against a real service -----------------------------------------------------------------------------
def health_paths() -> set[str]:
    """Every HTTP path the files probe."""
    arda = container(one("Deployment", "arda-notifications"), "arda")
    paths = {arda["readinessProbe"]["httpGet"]["path"], arda["livenessProbe"]["httpGet"]["path"]}
    healthcheck = dict(dockerfile())["HEALTHCHECK"]
    paths |= set(re.findall(r"(/[a-z]+)'", healthcheck))
    return paths


async def test_the_probed_paths_answer_on_a_running_service(tmp_path: Path) -> None:
    paths = health_paths()
    assert paths == {"/readyz", "/healthz"}
    work = tmp_path / "work"
    work.mkdir()
    started: list[Service] = []
    try:
        service = await start_service(started, work, user_env(tmp_path / "home"))
        async with aiohttp.ClientSession() as session:
            for path in sorted(paths):
                async with session.get(f"http://127.0.0.1:{service.http}{path}") as resp:
                    assert resp.status == 200, path
            async with session.get(f"http://127.0.0.1:{service.http}/no-such-probe") as resp:
                assert resp.status == 404  # the check can fail
    finally:
        stop_services(started)


def test_the_healthcheck_command_is_valid_python() -> None:
    healthcheck = dict(dockerfile())["HEALTHCHECK"]
    command = shlex.split(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")  # a SyntaxError here would mark every container unhealthy
