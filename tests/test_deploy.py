"""deploy/ and the Dockerfile read as operators' tools would: valid YAML, settings tact
knows, probes on the gRPC health service entries tact really serves, selectors that
match, and an image whose serving user can write the ledger directory only."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from engine.auth import parse_tokens
from engine.service import PROCESS_HEALTH_NAME, SERVICE_NAME, create_server
from engine.settings import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in _documents(K8S / name):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def _known_setting(variable: str) -> bool:
    return variable.startswith("TACT_") and variable[5:].lower() in Settings.model_fields


def test_every_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        assert _documents(path), path


def test_compose_runs_two_replicas_on_postgres_behind_a_grpc_aware_balancer() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [s for s in services if s.startswith("tact-")]
    assert len(replicas) == 2 and "postgres" in services and "envoy" in services
    for name in replicas:
        env = services[name]["environment"]
        assert all(_known_setting(v) for v in env), env
        assert env["TACT_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["TACT_AUTH_TOKENS_FILE"]  # replicas listen on 0.0.0.0: tokens required
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"]}
        parse_tokens((DEPLOY / mounts[env["TACT_AUTH_TOKENS_FILE"]]).read_text(), "tokens")
        assert services[name]["read_only"] is True

    envoy = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    grpc_cluster = clusters["tact_grpc"]
    options = grpc_cluster["typed_extension_protocol_options"]
    assert "http2_protocol_options" in next(iter(options.values()))["explicit_http_config"]
    check = grpc_cluster["health_checks"][0]["grpc_health_check"]
    assert check["service_name"] == SERVICE_NAME
    endpoints = {
        (
            e["endpoint"]["address"]["socket_address"]["address"],
            e["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for group in grpc_cluster["load_assignment"]["endpoints"]
        for e in group["lb_endpoints"]
    }
    port = int(services[replicas[0]]["environment"]["TACT_PORT"])
    assert endpoints == {(name, port) for name in replicas}


def test_kubernetes_probes_point_at_the_health_service_of_the_grpc_port() -> None:
    objects = _k8s()
    deployment = objects[("Deployment", "tact")]
    config = objects[("ConfigMap", "tact-config")]["data"]
    assert all(_known_setting(k) for k in config), config
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["grpc"] == int(config["TACT_PORT"])
    assert ports["http"] == int(config["TACT_HTTP_PORT"])
    assert ports["metrics"] == int(config["TACT_METRICS_PORT"])
    probes = {k: container[k]["grpc"] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert {p["port"] for p in probes.values()} == {ports["grpc"]}
    assert probes["readinessProbe"]["service"] == SERVICE_NAME
    assert probes["livenessProbe"]["service"] == PROCESS_HEALTH_NAME

    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["replicas"] >= 2
    pdb = objects[("PodDisruptionBudget", "tact")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    for kind, name in objects:
        if kind == "Service":
            assert objects[(kind, name)]["spec"]["selector"].items() <= labels.items()

    secret = objects[("Secret", "tact-secrets")]["stringData"]
    parse_tokens(secret["tokens.yaml"], "secret tokens.yaml")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert config["TACT_AUTH_TOKENS_FILE"].startswith(mounts["auth"] + "/")
    assert mounts["ledger"] == "/var/lib/tact"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    grace = float(config["TACT_GRACE_SECONDS"])
    assert pod["spec"]["terminationGracePeriodSeconds"] > grace + 5


def test_the_probed_health_entries_are_served(tmp_path: Path) -> None:
    running = create_server(
        Settings(
            port=0,
            database_url=f"sqlite:///{tmp_path / 'tact.db'}",
            rules_watch=False,
            policy="ladder",
        )
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in (SERVICE_NAME, PROCESS_HEALTH_NAME):
                response = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
                assert response.status == health_pb2.HealthCheckResponse.SERVING, name
    finally:
        running.stop(0)


def test_the_image_serves_read_only_code_rules_and_policies() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    instructions = re.sub(r"\\\n", " ", text)
    assert "--chown" not in instructions  # COPY leaves /app to root
    assert "chown -R tact" not in instructions
    assert re.search(r"^USER tact$", instructions, re.M)
    writable = re.findall(r"install -d -o tact -g tact -m \d+ (\S+)", instructions)
    assert writable == ["/var/lib/tact"]
    assert "TACT_DATABASE_URL=sqlite:////var/lib/tact/" in instructions
    assert 'VOLUME ["/var/lib/tact"]' in instructions
    # the image's own check, run as the serving user at build time
    user_at = instructions.index("USER tact")
    check = instructions.index("test ! -w /app/rules", user_at)
    assert (
        "test ! -w /app/policies" in instructions[check:]
        and "test -w /var/lib/tact" in (instructions[check:])
    )


def _docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.slow
def test_the_image_builds_and_checks_itself() -> None:
    if not _docker_ready():
        pytest.skip("no docker daemon on this machine")
    subprocess.run(["docker", "build", "-t", "tact:test", str(REPO_ROOT)], check=True)
