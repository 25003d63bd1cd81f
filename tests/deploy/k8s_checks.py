"""Consistency rules of the rendered Kubernetes objects with the code, the images and each other.

Each function takes rendered objects (an overlay plus the training Job, `tests/deploy/k8s.py`)
and returns a list of problems, so a test can also show it failing on a planted break.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel

from sentiment_mlops.settings import Settings
from tests.deploy.k8s import WORK_POOL, containers, find, pod_spec
from tests.deploy.stackfiles import COMPOSE_FILE, load_yaml
from tests.deploy.tools import REPO

Obj = dict[str, Any]

# Secrets a production user creates (README, "Deploying to Kubernetes"); the dev overlay
# generates the first three. Any other reference must resolve within the rendered objects.
USER_SECRETS = {"sentiment-api", "mlflow-server", "prefect-server", "sentiment-api-tls"}
# Variables the process or a library other than MLflow and Prefect reads, documented there.
PROCESS_ENV = {
    "HOME",  # POSIX: where libraries keep caches (the root filesystem is read-only)
    "MPLCONFIGDIR",  # matplotlib's cache and config folder
}
# Read by the third-party images themselves (their documented variables).
IMAGE_ENV = {
    "postgres": {"POSTGRES_PASSWORD", "PGDATA"},
    "quay.io/minio/minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "quay.io/minio/mc": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},  # its own `sh -c` script
}
AWS_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}  # boto3


def _aliases(model: type[BaseModel]) -> Iterator[str]:
    """Environment names of a settings model's fields, nested sections included."""
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _aliases(annotation)
        alias = field.validation_alias
        if isinstance(alias, str):
            yield alias
        elif isinstance(alias, AliasChoices):
            yield from (choice for choice in alias.choices if isinstance(choice, str))


@cache
def settings_variables() -> frozenset[str]:
    return frozenset(_aliases(Settings))


@cache
def mlflow_variables() -> frozenset[str]:
    """What MLflow reads: its environment_variables module and the `mlflow server` options.

    Read from the source, as importing `mlflow.cli` takes seconds.
    """
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    text = (root / "environment_variables.py").read_text() + (
        root / "cli" / "__init__.py"
    ).read_text()
    return frozenset(re.findall(r"[\"'](MLFLOW_[A-Z0-9_]+)[\"']", text))


@cache
def prefect_kubernetes_variables() -> frozenset[str]:
    """The settings of prefect-kubernetes (the worker image's), each its prefix + field name."""
    from prefect_kubernetes.settings import KubernetesSettings

    def walk(model: type[BaseModel]) -> Iterator[str]:
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from walk(annotation)
            else:
                yield f"{prefix}{name}".upper()

    return frozenset(walk(KubernetesSettings))


def is_prefect_variable(name: str) -> bool:
    import prefect.settings

    return hasattr(prefect.settings, name) or name in prefect_kubernetes_variables()


def allowed_variable(image: str, name: str) -> bool:
    """True when something in `image` reads the environment variable `name`."""
    repository = image.rsplit(":", 1)[0]
    if name in PROCESS_ENV:
        return True
    if "sentiment-mlops" in repository and not repository.endswith("mlflow"):
        # Our API and training images: the settings, and Prefect's own in the training image.
        return name in settings_variables() or is_prefect_variable(name)
    if "sentiment-mlops" in repository:
        return name in mlflow_variables() or name in AWS_ENV
    if repository == "prefecthq/prefect":
        return is_prefect_variable(name)
    return name in IMAGE_ENV.get(repository, set())


def _by_name(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def env_problems(objects: list[Obj]) -> list[str]:
    """Every variable a container gets, directly or from a ConfigMap, is read by its image;
    a Secret's key is the variable it becomes."""
    maps = _by_name(objects, "ConfigMap")
    problems = []
    for where, container in containers(objects):
        names = []
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            data = maps.get(ref["name"], {}).get("data", {}) if "configMapRef" in source else {}
            names += [(key, f"{where} (from {ref['name']})") for key in data]
        for variable in container.get("env", []):
            names.append((variable["name"], where))
            key_ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if key_ref and key_ref["key"] != variable["name"]:
                problems.append(f"{where}: {variable['name']} from Secret key {key_ref['key']}")
        problems += [
            f"{place}: {name} is read by nothing in {container['image']}"
            for name, place in names
            if not allowed_variable(container["image"], name)
        ]
    return problems


def reference_problems(objects: list[Obj]) -> list[str]:
    """ConfigMaps, Secrets and keys that pods refer to exist (Secrets: or the user makes them)."""
    stores = {kind: _by_name(objects, kind) for kind in ("ConfigMap", "Secret")}
    refs: list[tuple[str, str, str | None, str]] = []  # kind, name, key, where
    for obj in objects:
        if obj["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        spec = pod_spec(obj)
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                refs.append(("ConfigMap", volume["configMap"]["name"], None, where))
        for container in spec.get("initContainers", []) + spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    refs.append(("ConfigMap", source["configMapRef"]["name"], None, where))
            for variable in container.get("env", []):
                key_ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if key_ref:
                    refs.append(("Secret", key_ref["name"], key_ref["key"], where))
    problems = []
    for kind, name, key, where in refs:
        found = stores[kind].get(name)
        if found is None:
            if not (kind == "Secret" and name in USER_SECRETS):
                problems.append(f"{where}: {kind} {name} does not exist")
        elif key is not None and key not in (found.get("data") or found.get("stringData") or {}):
            problems.append(f"{where}: {kind} {name} has no key {key}")
    return problems


def _dockerfile(image: str) -> tuple[set[int], int]:
    """EXPOSEd ports and USER uid of the Dockerfile an image of ours is built from."""
    repository = image.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    text = (
        REPO / "docker" / repository.removeprefix("sentiment-mlops-") / "Dockerfile"
    ).read_text()
    exposed = {
        int(port) for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for port in line.split()
    }
    (uid,) = re.findall(r"^USER (\d+)", text, re.M)
    return exposed, int(uid)


def _python_minor() -> str:
    versions = {
        m
        for path in (REPO / "docker").glob("*/Dockerfile")
        for m in re.findall(r"^FROM python:(\d+\.\d+)", path.read_text(), re.M)
    }
    assert len(versions) == 1, f"the Dockerfiles use Python {versions}"
    return versions.pop()


def _locked_version(package: str) -> str:
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    (version,) = [p["version"] for p in lock["package"] if p["name"] == package]
    return str(version)


def image_problems(objects: list[Obj]) -> list[str]:
    """Our images are the Dockerfiles' (port, user), one release tag; the others match compose
    and uv.lock."""
    compose_images = {
        s["image"] for s in load_yaml(COMPOSE_FILE)["services"].values() if "image" in s
    }
    prefect = f"prefecthq/prefect:{_locked_version('prefect')}-python{_python_minor()}"
    ours_tags = set()
    problems = []
    for obj in objects:
        if obj["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        spec = pod_spec(obj)
        for container in spec.get("initContainers", []) + spec["containers"]:
            image, where = container["image"], f"{obj['metadata']['name']}/{container['name']}"
            if "sentiment-mlops" in image:
                try:
                    exposed, uid = _dockerfile(image)
                except FileNotFoundError:
                    problems.append(f"{where}: no Dockerfile under docker/ builds {image}")
                    continue
                ours_tags.add(image.rsplit(":", 1)[-1])
                ports = {p["containerPort"] for p in container.get("ports", [])}
                if not ports <= exposed:
                    problems.append(f"{where}: ports {ports}, the Dockerfile exposes {exposed}")
                run_as = container.get("securityContext", {}).get(
                    "runAsUser", spec.get("securityContext", {}).get("runAsUser")
                )
                if run_as != uid:
                    problems.append(f"{where}: runs as {run_as}, the Dockerfile's user is {uid}")
            elif image.startswith("prefecthq/prefect:"):
                if image not in {prefect, f"{prefect}-kubernetes"}:
                    problems.append(f"{where}: {image}, uv.lock and the Dockerfiles say {prefect}")
            elif image not in compose_images:
                problems.append(f"{where}: {image} is not the image docker-compose.yml runs")
    if len(ours_tags) != 1:
        problems.append(f"our images have different tags: {sorted(ours_tags)}")
    return problems


@cache
def api_routes(method: str = "get") -> frozenset[str]:
    """The paths of the FastAPI app for `method`, from its OpenAPI document."""
    from sentiment_mlops.serving.app import create_app

    paths = create_app(Settings(PREDICTION_LOG_URL="off")).openapi()["paths"]
    return frozenset(path for path, operations in paths.items() if method in operations)


def _probes(container: Obj) -> Iterator[tuple[str, Obj]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if "httpGet" in container.get(kind, {}):
            yield kind, container[kind]["httpGet"]


def _port_number(container: Obj, port: int | str) -> int | None:
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return int(declared["containerPort"])
    return None


def probe_problems(objects: list[Obj], routes: frozenset[str]) -> list[str]:
    """The API's probes ask real routes; every HTTP probe's port is one the container declares."""
    problems = []
    api = find(objects, "Deployment", "sentiment-api")
    for container in pod_spec(api)["containers"]:
        for kind, get in _probes(container):
            if get["path"] not in routes:
                problems.append(f"sentiment-api {kind}: {get['path']} is not a GET route")
    for where, container in containers(objects):
        for kind, get in _probes(container):
            if _port_number(container, get["port"]) is None:
                problems.append(f"{where} {kind}: port {get['port']} is not declared")
    return problems


def _selected(objects: list[Obj], selector: dict[str, str]) -> list[Obj]:
    """Workloads whose pod labels carry every label of `selector`."""
    return [
        o
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet", "Job"}
        and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
    ]


def _container_ports(workloads: list[Obj]) -> list[Obj]:
    return [c for w in workloads for c in pod_spec(w)["containers"]]


def port_problems(objects: list[Obj]) -> list[str]:
    """Services, policies, the Ingress, HPA and PDB reach pods that exist, on declared ports."""
    problems = []
    services = _by_name(objects, "Service")
    for name, service in services.items():
        pods = _container_ports(_selected(objects, service["spec"]["selector"]))
        if not pods:
            problems.append(f"Service {name}: its selector matches no pod")
        for port in service["spec"]["ports"]:
            numbers = {_port_number(c, port.get("targetPort", port["port"])) for c in pods}
            if numbers != {port["port"]}:
                problems.append(f"Service {name}: port {port['port']} reaches {numbers}")
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        name, spec = policy["metadata"]["name"], policy["spec"]
        targets = _selected(objects, spec["podSelector"].get("matchLabels", {}))
        peers = [
            peer["podSelector"].get("matchLabels", {})
            for rule in spec.get("ingress", [])
            for peer in rule.get("from", [])
            if "podSelector" in peer
        ]
        problems += [
            f"NetworkPolicy {name}: {p} selects no pod" for p in peers if not _selected(objects, p)
        ]
        ports = {p["port"] for rule in spec.get("ingress", []) for p in rule.get("ports", [])}
        declared = {
            p["containerPort"] for c in _container_ports(targets) for p in c.get("ports", [])
        }
        if not targets or not ports <= declared:
            problems.append(f"NetworkPolicy {name}: ports {ports} on pods declaring {declared}")
    for ingress in (o for o in objects if o["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = services.get(backend["name"], {}).get("spec", {}).get("ports", [])
                if backend["port"].get("name") not in {p.get("name") for p in ports}:
                    problems.append(f"Ingress: no port {backend['port']} on {backend['name']}")
    for kind in ("PodDisruptionBudget",):
        for obj in (o for o in objects if o["kind"] == kind):
            if not _selected(objects, obj["spec"]["selector"]["matchLabels"]):
                problems.append(f"{kind} {obj['metadata']['name']}: selects no pod")
    api = find(objects, "Deployment", "sentiment-api")
    api_port = find(objects, "ConfigMap", "sentiment-api")["data"]["API_PORT"]
    if _port_number(pod_spec(api)["containers"][0], "http") != int(api_port):
        problems.append(f"API_PORT {api_port} is not the API container's port")
    return problems


def worker_problems(objects: list[Obj]) -> list[str]:
    """The pool the worker polls is the one created and deployed to; the Jobs run the training
    image in this namespace."""
    worker = find(objects, "Deployment", "prefect-worker")
    steps = {
        c["name"]: c for c in pod_spec(worker)["initContainers"] + pod_spec(worker)["containers"]
    }
    pool, image, namespace = steps["create-work-pool"]["args"]
    register = steps["register-deployment"]["command"]
    start = steps["worker"]["args"]
    pools = {
        "created": pool,
        "deployed to": register[register.index("--work-pool") + 1],
        "polled": start[start.index("--pool") + 1],
    }
    problems = [f"work pool {what}: {name}" for what, name in pools.items() if name != WORK_POOL]
    if image != steps["register-deployment"]["image"]:
        problems.append(f"the Jobs run {image}, the deployment was made from another image")
    if namespace != worker["metadata"]["namespace"]:
        problems.append(f"the Jobs go to namespace {namespace}, the worker is in another")
    return problems


def _secret_values(objects: list[Obj]) -> dict[tuple[str, str], str]:
    """(Secret, key) -> value of the Secrets the overlay renders (the dev overlay's)."""
    values = {}
    for secret in (o for o in objects if o["kind"] == "Secret"):
        name = secret["metadata"]["name"]
        for key, value in (secret.get("data") or {}).items():
            values[(name, key)] = base64.b64decode(value).decode()
        for key, value in (secret.get("stringData") or {}).items():
            values[(name, key)] = value
    return values


def environment(objects: list[Obj], container: Obj) -> dict[str, str | None]:
    """A container's variables and their values; None for a Secret the user creates."""
    maps, secrets = _by_name(objects, "ConfigMap"), _secret_values(objects)
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= maps.get(source["configMapRef"]["name"], {}).get("data", {})
    for variable in container.get("env", []):
        key_ref = variable.get("valueFrom", {}).get("secretKeyRef")
        ref = (key_ref["name"], key_ref["key"]) if key_ref else None
        env[variable["name"]] = secrets.get(ref) if ref else variable.get("value")
    return env


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def _pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _rule_admits(rule: Obj, peer_key: str, peer: dict[str, str] | None, port: int) -> bool:
    """One ingress/egress rule admits `peer` (pod labels in the namespace; None: outside it)."""
    ports = rule.get("ports")
    if ports and not any(p.get("port") in (None, port) for p in ports):
        return False
    peers = rule.get(peer_key)
    if not peers:
        return True
    for entry in peers:
        if peer is None and "ipBlock" in entry:
            return True
        if (
            peer is not None
            and set(entry) == {"podSelector"}
            and _matches(entry["podSelector"].get("matchLabels", {}), peer)
        ):
            return True
    return False


def _direction_admits(
    objects: list[Obj], kind: str, pod: dict[str, str], peer: dict[str, str] | None, port: int
) -> bool:
    """The NetworkPolicies that select `pod` for `kind` (Ingress, Egress) admit `peer` on `port`
    (no such policy: everything is admitted)."""
    key, peer_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    policies = [
        o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and kind in o["spec"].get("policyTypes", ["Ingress"])
        and _matches(o["spec"]["podSelector"].get("matchLabels", {}), pod)
    ]
    return not policies or any(
        _rule_admits(rule, peer_key, peer, port) for spec in policies for rule in spec.get(key, [])
    )


def admits(objects: list[Obj], source: Obj, target: Obj | None, port: int) -> bool:
    """Pods of workload `source` may connect to pods of `target` (None: outside the cluster's
    rendered objects, as the user's PostgreSQL in prod) on `port`."""
    source_labels = _pod_labels(source)
    if target is None:
        return _direction_admits(objects, "Egress", source_labels, None, port)
    target_labels = _pod_labels(target)
    return _direction_admits(
        objects, "Egress", source_labels, target_labels, port
    ) and _direction_admits(objects, "Ingress", target_labels, source_labels, port)


def _service_target(objects: list[Obj], host: str, port: int) -> tuple[Obj, int] | None:
    """The workload and container port a `host:port` in the namespace reaches through a Service."""
    namespace = find(objects, "Deployment", "sentiment-api")["metadata"]["namespace"]
    for name, service in _by_name(objects, "Service").items():
        names = {name, f"{name}.{namespace}", f"{name}.{namespace}.svc"}
        if host not in names | {f"{name}.{namespace}.svc.cluster.local"}:
            continue
        for declared in service["spec"]["ports"]:
            if declared["port"] != port:
                continue
            for workload in _selected(objects, service["spec"]["selector"]):
                number = _port_number(
                    pod_spec(workload)["containers"][0], declared.get("targetPort", port)
                )
                if number is not None:
                    return workload, number
    return None


def _phrases(words: list[str]) -> set[str]:
    """Each word of a command line and each pair of neighbouring words."""
    return set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}


def webhook_cache_problems(
    mlflow_env: dict[str, str | None], api_env: dict[str, str | None]
) -> list[str]:
    """MLflow's server caches each event's webhook list for MLFLOW_WEBHOOK_CACHE_TTL seconds
    (default 60): a webhook registered as the API starts misses alias moves for that long. So
    the TTL must be an integer (MLflow parses it with int() at each delivery, and a value it
    cannot parse fails them all) shorter than the API's poll, or the webhook is slower than the
    fallback it is there to beat."""
    ttl = mlflow_env.get("MLFLOW_WEBHOOK_CACHE_TTL")
    if ttl is None:
        return ["MLflow caches webhook lists for 60 s (MLFLOW_WEBHOOK_CACHE_TTL is not set)"]
    if not re.fullmatch(r"\d+", ttl.strip()):
        return [f"MLFLOW_WEBHOOK_CACHE_TTL={ttl!r} is not an integer: MLflow fails every delivery"]
    default = Settings.model_fields["model_reload_interval"].default
    poll = float(api_env.get("MODEL_RELOAD_INTERVAL") or default)
    if int(ttl) >= poll:
        return [f"MLFLOW_WEBHOOK_CACHE_TTL={ttl} s is not shorter than the API's {poll:g} s poll"]
    return []


def fanout_problems(objects: list[Obj], webhook_routes: frozenset[str]) -> list[str]:
    """A new champion reaches every API pod: MLflow's webhook is registered for the API's Service
    (so one pod), MLflow may deliver there, and every pod may LISTEN and NOTIFY on the database
    of RELOAD_NOTIFY_URL."""
    problems = []
    api = find(objects, "Deployment", "sentiment-api")
    mlflow = find(objects, "Deployment", "mlflow")
    api_env = environment(objects, pod_spec(api)["containers"][0])
    for name in ("WEBHOOK_SECRET", "RELOAD_NOTIFY_URL"):
        if name not in api_env:
            problems.append(f"the API has no {name}")
    registering = [
        (where, container)
        for where, container in containers(objects)
        if {"webhook register", "--register-webhook"}
        & _phrases(container.get("command", []) + container.get("args", []))
    ]
    if len(registering) != 1:
        problems.append(f"{len(registering)} containers register the webhook, not one")
    for where, container in registering:
        env = environment(objects, container)
        if "WEBHOOK_SECRET" not in env:
            problems.append(f"{where}: no WEBHOOK_SECRET")
        url = urlsplit(env.get("WEBHOOK_URL") or "")
        target = _service_target(objects, url.hostname or "", url.port or 80)
        if target is None or target[0] is not api or url.path not in webhook_routes:
            problems.append(f"{where}: WEBHOOK_URL {url.geturl()!r} is not the API's webhook route")
        elif not admits(objects, mlflow, api, target[1]):
            problems.append(f"MLflow may not deliver to the API on port {target[1]}")
        mlflow_env = environment(objects, pod_spec(mlflow)["containers"][0])
        schemes = (mlflow_env.get("MLFLOW_WEBHOOK_ALLOWED_SCHEMES") or "https").split(",")
        if url.scheme not in [s.strip() for s in schemes]:
            problems.append(f"MLflow refuses {url.scheme} webhook URLs")
        if mlflow_env.get("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS") != "true":
            problems.append("MLflow refuses webhook URLs of private addresses (the Service's)")
        problems += webhook_cache_problems(mlflow_env, api_env)
        workloads = [o for o in objects if o["kind"] in {"Job", "Deployment"}]
        (registrar,) = [w for w in workloads if container in pod_spec(w)["containers"]]
        if not admits(objects, registrar, mlflow, 5000):
            problems.append(f"{where} may not reach MLflow")
    notify = api_env.get("RELOAD_NOTIFY_URL")
    database = urlsplit(notify or "postgresql://external:5432/")
    found = _service_target(objects, database.hostname or "", database.port or 5432)
    if notify is not None and found is None:
        problems.append(f"RELOAD_NOTIFY_URL names {database.hostname}, a Service not rendered")
    target, port = found if found else (None, database.port or 5432)
    if not admits(objects, api, target, port):
        problems.append(f"the API may not reach PostgreSQL on port {port}")
    return problems
