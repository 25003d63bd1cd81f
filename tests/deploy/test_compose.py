"""docker-compose.yml agrees with the seed, the settings module, the tools it runs and .env.

The seed's table: MLflow host 5001 -> 5000, MinIO 9000 (S3) and 9001 (console), Prefect 4200,
API 8000, PostgreSQL 5432. Each check is a function returning problems; one of them is shown
failing on a broken copy (one is enough: more would test the checks, not the files).
"""

from __future__ import annotations

import copy
import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.settings import Settings, StackSettings
from sentiment_mlops.stack import services as stack_services
from sentiment_mlops.stack.secrets import StackSecrets
from tests.deploy.k8s_checks import settings_variables, webhook_cache_problems
from tests.deploy.stackfiles import (
    COMPOSE_FILE,
    command_words,
    dependency_problems,
    interpolate,
    one_shot_services,
    published_ports,
    referenced_variables,
    service_environment,
)

SEED_PORTS: dict[str, set[tuple[int, int]]] = {
    "postgres": {(5432, 5432)},
    "minio": {(9000, 9000), (9001, 9001)},
    "mlflow": {(5001, 5000)},
    "prefect-server": {(4200, 4200)},
    "api": {(8000, 8000)},
}
# Beyond the seed: Prometheus and Grafana on their usual ports (issue 12, dashboards and alerts).
PORTS = SEED_PORTS | {"prometheus": {(9090, 9090)}, "grafana": {(3000, 3000)}}
SEED_SERVICES = {"postgres", "minio", "minio-init", "mlflow", "prefect-server", "training", "api"}
# Beyond the seed: the Prefect worker that runs the training deployment (as `sentiment stack` does),
# and the monitoring pair.
SERVICES = SEED_SERVICES | {"prefect-worker", "prometheus", "grafana"}

# Variables the software inside each image reads itself, beyond our Settings (which only the
# training and api images run). Kept explicit so that a typo in compose cannot hide here; the
# MLflow, boto3 and Prefect names are checked against the installed packages below.
TOOL_ENV: dict[str, set[str]] = {
    # postgres image entrypoint; MLFLOW_/PREFECT_DB_PASSWORD: docker/postgres/init-databases.sh
    "postgres": {
        "POSTGRES_USER",
        "POSTGRES_DB",
        "POSTGRES_PASSWORD",
        "MLFLOW_DB_PASSWORD",
        "PREFECT_DB_PASSWORD",
        "PREDICTIONS_DB_PASSWORD",
    },
    # minio server image
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    # the service's own `sh -c` script (mc alias set ... "$MINIO_ROOT_USER" ...)
    "minio-init": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    # mlflow server; MLFLOW_S3_ENDPOINT_URL and AWS_* through boto3
    "mlflow": {
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
        "MLFLOW_DISABLE_TELEMETRY",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
        "MLFLOW_WEBHOOK_CACHE_TTL",
    },
    # prefect server
    "prefect-server": {
        "PREFECT_API_DATABASE_CONNECTION_URL",
        "PREFECT_SERVER_ANALYTICS_ENABLED",
        "PREFECT_UI_API_URL",
    },
    "training": set(),
    "prefect-worker": set(),
    "api": set(),
    # prometheus: configured by flags and its mounted file only
    "prometheus": set(),
    # grafana image: GF_<SECTION>_<KEY> overrides that key of grafana.ini
    "grafana": {
        "GF_SECURITY_ADMIN_USER",
        "GF_SECURITY_ADMIN_PASSWORD",
        "GF_USERS_ALLOW_SIGN_UP",
        "GF_ANALYTICS_REPORTING_ENABLED",
        "GF_ANALYTICS_CHECK_FOR_UPDATES",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
        "GF_SERVER_HTTP_PORT",
    },
}
# Files of the repository that compose mounts into containers, by service.
BIND_MOUNTS = {
    "postgres": {"./docker/postgres/init-databases.sh"},
    "prometheus": {
        "./docker/prometheus/prometheus.yml",
        "./src/sentiment_mlops/monitoring/alerts.yml",
    },
    "grafana": {"./docker/grafana/provisioning", "./docker/grafana/dashboards"},
}
SETTINGS_SERVICES = {"training", "prefect-worker", "api"}


def environment_problems(compose: dict[str, Any]) -> list[str]:
    """Variables a service is given that nothing in its image reads."""
    problems = []
    for name, service in compose["services"].items():
        allowed = set(TOOL_ENV.get(name, set()))
        if name in SETTINGS_SERVICES:
            allowed |= settings_variables()
        for variable in service_environment(service):
            if variable not in allowed:
                problems.append(f"{name}: {variable} is read by nothing in this image")
    return problems


def port_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        ports = published_ports(service)
        if ports != PORTS.get(name, set()):
            problems.append(f"{name}: publishes {sorted(ports)}, seed says {PORTS.get(name)}")
    return problems


def test_services_are_the_seeds(compose: dict) -> None:
    assert set(compose["services"]) == SERVICES


def test_environment_variables_are_read_by_the_image(compose: dict) -> None:
    assert environment_problems(compose) == []


def test_environment_check_catches_a_typo(compose: dict) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["environment"]["MODEL_RELOAD_INTERVALS"] = "10"
    assert len(environment_problems(broken)) == 1


def test_tool_variables_exist_in_the_installed_tools() -> None:
    """The MLflow, boto3 and Prefect names of TOOL_ENV are ones those packages read."""
    import prefect.settings

    sources = _package_text("mlflow") + _package_text("botocore")
    missing = [v for v in TOOL_ENV["mlflow"] if f'"{v}"' not in sources and f"'{v}'" not in sources]
    missing += [v for v in TOOL_ENV["prefect-server"] if not hasattr(prefect.settings, v)]
    assert missing == []


def test_init_script_reads_the_variables_compose_gives_postgres() -> None:
    script = (COMPOSE_FILE.parent / "docker/postgres/init-databases.sh").read_text()
    assert "MLFLOW_DB_PASSWORD" in script and "PREFECT_DB_PASSWORD" in script


def test_ports_match_the_seed(compose: dict) -> None:
    assert port_problems(compose) == []


@pytest.mark.parametrize(
    ("service", "port"), [("mlflow", 5000), ("prefect-server", 4200), ("api", 8000)]
)
def test_servers_listen_where_ports_and_healthchecks_point(
    compose: dict, service: str, port: int
) -> None:
    spec = compose["services"][service]
    command = command_words(spec["command"])
    assert command[command.index("--port") + 1] == str(port)
    assert command[command.index("--host") + 1] == "0.0.0.0"
    health = " ".join(command_words(spec["healthcheck"]["test"]))
    assert f"http://127.0.0.1:{port}/" in health


def test_minio_listens_on_the_seed_ports(compose: dict) -> None:
    command = command_words(compose["services"]["minio"]["command"])
    assert command[command.index("--address") + 1] == ":9000"
    assert command[command.index("--console-address") + 1] == ":9001"


def test_api_serves_on_the_settings_default_port(compose: dict) -> None:
    assert Settings.model_fields["api_port"].default == 8000


def test_healthchecks_and_dependencies(compose: dict) -> None:
    assert dependency_problems(compose) == []
    assert one_shot_services(compose) == {"minio-init"}


def test_one_shot_init_is_adopted_by_a_long_running_service(compose: dict) -> None:
    """`up --wait` accepts minio-init's exit only when a running service waits on it."""
    waiting = [
        name
        for name, service in compose["services"].items()
        if (service.get("depends_on") or {}).get("minio-init", {}).get("condition")
        == "service_completed_successfully"
    ]
    assert waiting == ["mlflow"]


def test_one_network_and_named_volumes(compose: dict) -> None:
    assert list(compose["networks"]) == ["sentiment"]
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        assert service.get("networks") == ["sentiment"], name
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert source in BIND_MOUNTS.get(name, set()), f"{name}: bind {source}"
                assert (COMPOSE_FILE.parent / source).exists(), f"{name}: {source} is missing"
                assert mount.endswith(":ro"), f"{name}: {source} is mounted writable"
            else:
                assert source in declared, f"{name}: undeclared volume {source}"


def test_images_are_pinned(compose: dict) -> None:
    images = {name: s["image"] for name, s in compose["services"].items() if "image" in s}
    assert images["postgres"] == "postgres:17"
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.[0-9TZ-]+", images["minio"])
    assert re.fullmatch(r"quay\.io/minio/mc:RELEASE\.[0-9TZ-]+", images["minio-init"])
    prefect_version = _locked_version("prefect")
    assert images["prefect-server"] == f"prefecthq/prefect:{prefect_version}-python3.12"
    # Prometheus 2.x, the major release of the Debian promtool that validates the config.
    assert re.fullmatch(r"prom/prometheus:v2\.\d+\.\d+", images["prometheus"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", images["grafana"])


def test_mlflow_server_command_matches_the_seed(compose: dict) -> None:
    command = command_words(compose["services"]["mlflow"]["command"])
    assert command[:2] == ["mlflow", "server"]
    assert command[command.index("--backend-store-uri") + 1].startswith(
        "postgresql+psycopg://mlflow:"
    )
    assert command[command.index("--artifacts-destination") + 1] == "s3://mlflow-artifacts"
    assert "--serve-artifacts" in command
    allowed = command[command.index("--allowed-hosts") + 1].split(",")
    assert {"mlflow:5000", "localhost:*"} <= set(allowed)


def _resolved(service: dict[str, Any], env: dict[str, str]) -> dict[str, str | None]:
    return {k: interpolate(v, env) for k, v in service_environment(service).items()}


def test_mlflow_takes_a_new_webhook_within_a_short_cache_ttl(
    compose: dict, env_example: dict
) -> None:
    """compose's and the local stack's MLflow server refresh their cached webhook lists well
    within the API's poll, with the same TTL (k8s: `fanout_problems`)."""
    services = compose["services"]
    mlflow, api = (_resolved(services[name], env_example) for name in ("mlflow", "api"))
    assert webhook_cache_problems(mlflow, api) == []
    secrets = StackSecrets("key", "secret", "fernet-key", "webhook-secret")
    stack = StackSettings(postgres_url="postgresql://postgres@127.0.0.1:5432/postgres")
    stack_mlflow = stack_services.mlflow_service(stack, secrets).env
    replica = stack_services.api_replica_service(stack, secrets, 1, 8001).env
    assert webhook_cache_problems(dict(stack_mlflow), dict(replica)) == []
    ttl = services["mlflow"]["environment"]["MLFLOW_WEBHOOK_CACHE_TTL"]
    assert ttl == stack_mlflow["MLFLOW_WEBHOOK_CACHE_TTL"]


def test_clients_reach_the_servers_by_service_name(compose: dict) -> None:
    training = compose["services"]["training"]["environment"]
    api = compose["services"]["api"]["environment"]
    assert training["MLFLOW_TRACKING_URI"] == api["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert training["PREFECT_API_URL"] == "http://prefect-server:4200/api"


def test_every_variable_comes_from_env_example(env_example: dict) -> None:
    """Secrets are required (`:?`) and present in .env.example; others have a default there."""
    text = re.sub(r"(?m)^\s*#.*$", "", COMPOSE_FILE.read_text())
    variables = referenced_variables(text)
    missing = sorted(set(variables) - set(env_example))
    assert missing == []
    secrets = {name for name in variables if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", name)}
    optional = {"WEBHOOK_SECRET"}  # empty means "webhooks off" (see .env.example)
    assert all(variables[name] == ":?" for name in secrets - optional)


def test_settings_accept_what_compose_gives_them(compose: dict, env_example: dict, monkeypatch):
    """The api and training environments, resolved with .env.example, are valid Settings."""
    for name in sorted(SETTINGS_SERVICES):
        resolved = {
            key: interpolate(value, env_example)
            for key, value in service_environment(compose["services"][name]).items()
        }
        for key in settings_variables():
            monkeypatch.delenv(key, raising=False)
        for key, value in resolved.items():
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)
        assert settings.mlflow_tracking_uri == "http://mlflow:5000", name


def _package_text(package: str) -> str:
    """The Python source of an installed package, to look names up in."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    return "\n".join(p.read_text(errors="ignore") for p in root.rglob("*.py"))


def _locked_version(package: str) -> str:
    lock = tomllib.loads((COMPOSE_FILE.parent / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


# Fields of the challenger rollout; each component that acts on them must get them.
ROLLOUT_FIELDS = ("challenger_alias", "rollout_mode", "canary_percent", "shadow_queue_size")
ALIAS_FIELDS = ("model_alias", "challenger_alias")  # the aliases a training run moves


def configured_as_default(fields: tuple[str, ...], given: dict[str, str]) -> list[str]:
    """Problems: a field's variable missing from `given` (variable -> text), or its value, as
    Settings reads it, not the field's default."""
    variables = {field: str(Settings.model_fields[field].validation_alias) for field in fields}
    missing = [f"{variable} is not set" for variable in variables.values() if variable not in given]
    if missing:
        return missing
    settings = Settings(_env_file=None, **{v: given[v] for v in variables.values()})  # type: ignore[call-arg]
    return [
        f"{variables[field]}={given[variables[field]]} is not the default"
        for field in fields
        if getattr(settings, field) != Settings.model_fields[field].default
    ]


def test_the_rollout_settings_are_in_compose_and_env_example_with_their_defaults(
    compose: dict, env_example: dict
) -> None:
    """The API gets every rollout setting and the training services both aliases, from
    .env.example, whose values are the settings' defaults (a misspelt name in compose is
    caught by `environment_problems`, in .env.example by the test above)."""
    services = compose["services"]
    wanted = {"api": ROLLOUT_FIELDS, "training": ALIAS_FIELDS, "prefect-worker": ALIAS_FIELDS}
    for name, fields in wanted.items():
        variables = {str(Settings.model_fields[field].validation_alias) for field in fields}
        environment = service_environment(services[name])
        # Interpolated without a .env: the defaults compose itself writes.
        given = {k: interpolate(v, {}) for k, v in environment.items() if k in variables}
        assert configured_as_default(fields, given) == [], name
        assert configured_as_default(fields, env_example) == []
