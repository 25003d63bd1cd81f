"""Challenger rollout on the stack, through the MLflow server and its webhooks (issue 13 part 5).

The champion is the story's (conftest); the challenger is a version `sentiment train
--challenger` registers from the demo reviews with flipped labels, so most answers tell which
model gave them. Two APIs serve them beside the stack's own: one in canary mode, one in shadow
mode, each started as the stack starts its API (`sentiment serve`, against the stack's MLflow
server and S3) and each with a registry webhook of its own. The stack's API keeps ROLLOUT_MODE
off for the other stack tests: `sentiment stack restart` restarts a service with the environment
`stack up` gave it, so another mode there would cost a second stack. The two APIs check the
registry only every hour: what they do after an alias moves, a webhook made them do. Their
webhooks, registered as the module starts, take effect once the stack's MLflow server has
refreshed its cached webhook list (MLFLOW_WEBHOOK_CACHE_TTL, `stack.services`): with MLflow's
default of 60 s, after earlier stack tests had moved an alias, they missed the challenger.

The tests run in file order: the last one corrupts the challenger's model file.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from sentiment_mlops import registry
from sentiment_mlops.core.compact_file import COMPACT_FILE
from sentiment_mlops.serving.webhooks import ALIAS_CREATED, ALIAS_DELETED
from tests.stack.conftest import Story
from tests.stack.helpers import SENTIMENT, RunningStack, clean_environment, output
from tests.support.paths import DEMO_DATA
from tests.support.processes import ServerProcess, free_port, wait_until
from tests.support.rollout import TEXTS, answers_without_ids

pytestmark = pytest.mark.stack

MODEL = "sentiment-classifier"
ALIAS = "challenger"
CANARY_PERCENT = 30
KEYS = 2000  # canary keys asked for: the share is within ±3 points of CANARY_PERCENT
# The load a client loop puts on an API while an alias moves: bounded in count and time (a
# test stops it sooner; an alias move on a busy machine can take a minute or two).
LOAD_REQUESTS = 20_000
LOAD_SECONDS = 600.0


@dataclass
class Api:
    mode: str
    process: ServerProcess
    webhook_id: str

    @property
    def url(self) -> str:
        return self.process.url

    def metric(self, sample: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def challenger_version(self) -> str | None:
        version = int(self.metric("sentiment_challenger_version"))
        return str(version) if version else None

    def load_failures(self) -> float:
        return self.metric('sentiment_challenger_reload_failures_total{stage="load"}')

    def predict(self, text: str, key: str | None = None) -> httpx.Response:
        headers = {"X-Request-Key": key} if key else {}
        return httpx.post(f"{self.url}/predict", json={"text": text}, headers=headers, timeout=30)


@dataclass(frozen=True)
class Versions:
    champion: str
    challenger: str  # trained on flipped labels


def _start_api(stack: RunningStack, folder: Path, mode: str, secret: str) -> ServerProcess:
    port = free_port()
    env: dict[str, str | None] = {
        "MLFLOW_TRACKING_URI": stack.mlflow_url,
        "ROLLOUT_MODE": mode,
        "CANARY_PERCENT": str(CANARY_PERCENT),
        "WEBHOOK_SECRET": secret,
        "MODEL_RELOAD_INTERVAL": "3600",  # only a webhook moves it within a test
        "PREDICTION_LOG_URL": "off",
        "API_WORKERS": "1",
    }
    # ServerProcess starts from this process's environment: drop what points elsewhere.
    foreign: dict[str, str | None] = dict.fromkeys(os.environ.keys() - clean_environment().keys())
    return ServerProcess(
        [*SENTIMENT, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=foreign | stack.client_env() | env,
        log=folder / f"api-{mode}.log",
        cwd=folder,  # no .env of the checkout
        url=f"http://127.0.0.1:{port}",
    )


@pytest.fixture(scope="module")
def apis(
    stack: RunningStack, story: Story, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Api]]:
    """A canary and a shadow API serving the story's champion, each with its webhook; at the end
    the challenger alias is removed, the webhooks deleted and the APIs stopped."""
    folder = tmp_path_factory.mktemp("rollout")
    client = stack.mlflow()
    secret = secrets.token_urlsafe(24)
    token = secrets.token_hex(4)
    started: dict[str, Api] = {}
    try:
        for mode in ("canary", "shadow"):
            process = _start_api(stack, folder, mode, secret)
            webhook = registry.ensure_webhook(
                client,
                name=f"rollout-test-{mode}-{token}",
                url=f"{process.url}/webhooks/mlflow",
                events=[ALIAS_CREATED, ALIAS_DELETED],
                secret=secret,
            )
            started[mode] = Api(mode, process, webhook)
        # The champion now, not at the story's start: earlier stack tests may have moved it.
        champion = str(client.get_model_version_by_alias(MODEL, "champion").version)
        for api in started.values():
            api.process.wait_ready(partial(_serves, api, champion), 120, f"the {api.mode} API")
        yield started
    finally:
        registry.delete_alias(client, MODEL, ALIAS)
        for api in started.values():
            client.delete_webhook(api.webhook_id)
            api.process.stop()


def _serves(api: Api, version: str) -> bool:
    try:
        return httpx.get(f"{api.url}/health", timeout=5).json().get("model_version") == version
    except (httpx.HTTPError, ValueError):
        return False


@pytest.fixture(scope="module")
def versions(
    stack: RunningStack,
    story: Story,
    apis: dict[str, Api],
    tmp_path_factory: pytest.TempPathFactory,
) -> Versions:
    """`sentiment train --challenger` on flipped labels; both APIs pick it up by webhook."""
    flipped = tmp_path_factory.mktemp("flipped") / "flipped.csv"
    reviews = pd.read_csv(DEMO_DATA)
    reviews.assign(label=1 - reviews["label"]).to_csv(flipped, index=False)

    trained = stack.sentiment("train", "--challenger", "--data-path", str(flipped))
    assert trained.returncode == 0, output(trained)
    client = stack.mlflow()
    challenger = client.get_model_version_by_alias(MODEL, ALIAS)
    found = Versions(served_champion(apis), str(challenger.version))
    # The champion did not move.
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == found.champion
    for api in apis.values():
        _wait_challenger(api, found.challenger)
    return found


def served_champion(apis: dict[str, Api]) -> str:
    """The champion version both APIs serve (the same: the fixture waited for it)."""
    [version] = {
        httpx.get(f"{api.url}/health", timeout=5).json()["model_version"] for api in apis.values()
    }
    return str(version)


def _wait_challenger(api: Api, version: str | None) -> None:
    def serving() -> bool:
        return api.challenger_version() == version

    wait_until(serving, 60, f"the {api.mode} API serving challenger {version}")


def _challenger_served(stack: RunningStack, apis: dict[str, Api], version: str) -> None:
    """The alias on `version` and both APIs serving it (a test run alone, or after another)."""
    registry.set_alias(stack.mlflow(), MODEL, ALIAS, version)
    for api in apis.values():
        _wait_challenger(api, version)


# --- the load -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    variant: str | None
    version: str | None


@dataclass
class Load:
    """A client loop in a thread: `/predict` on one API with a new key each time, until stopped
    or LOAD_REQUESTS / LOAD_SECONDS are reached. Transport errors count as failures."""

    api: Api
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as error:  # shown by `failures`, not lost with the thread
            self.errors.append(f"the load loop stopped: {error!r}")

    def _loop(self) -> None:
        deadline = time.monotonic() + LOAD_SECONDS
        with httpx.Client(base_url=self.api.url, timeout=30) as http:
            for number in range(LOAD_REQUESTS):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                text, key = TEXTS[number % len(TEXTS)], f"load-{number}"
                try:
                    response = http.post(
                        "/predict", json={"text": text}, headers={"X-Request-Key": key}
                    )
                except httpx.HTTPError as error:
                    self.errors.append(f"{type(error).__name__}: {error}")
                    continue
                body = response.json() if response.status_code == 200 else {}
                self.answers.append(
                    Answer(response.status_code, body.get("variant"), body.get("model_version"))
                )

    def wait_for(self, count: int) -> None:
        """Until `count` more answers have come (the load keeps going meanwhile)."""
        target = len(self.answers) + count

        def enough() -> bool:
            if len(self.answers) >= target:
                return True
            assert self._thread is not None and self._thread.is_alive(), (
                f"the load loop ended before {count} more answers: {self.errors[-3:]}"
            )
            return False

        wait_until(enough, 60, f"{count} more answers")

    def failures(self) -> list[Any]:
        return self.errors + [answer for answer in self.answers if answer.status != 200]


# --- the tests ------------------------------------------------------------------------------


def test_canary_on_the_stack_is_sticky_and_near_the_percentage(
    stack: RunningStack, apis: dict[str, Api], versions: Versions
) -> None:
    _challenger_served(stack, apis, versions.challenger)
    canary = apis["canary"]
    expected = {"champion": versions.champion, "challenger": versions.challenger}
    variants: dict[int, str] = {}
    with httpx.Client(base_url=canary.url, timeout=30) as http:  # one connection for them all
        for key in range(KEYS):
            answer = http.post(
                "/predict",
                json={"text": TEXTS[key % len(TEXTS)]},
                headers={"X-Request-Key": f"user-{key}"},
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["model_version"] == expected[body["variant"]], body
            variants[key] = body["variant"]

    share = 100 * sum(v == "challenger" for v in variants.values()) / KEYS
    assert CANARY_PERCENT - 3 <= share <= CANARY_PERCENT + 3, share
    for key in range(0, KEYS, 20):  # the same key, the same variant, whatever the text
        again = canary.predict(TEXTS[(key + 1) % len(TEXTS)], key=f"user-{key}")
        assert again.json()["variant"] == variants[key]
    # The two variants are two different models: the challenger learned flipped labels. Not
    # a fixed answer per text: earlier stack tests may have promoted another champion.
    first = {variants[k]: k for k in range(KEYS)}
    said = {
        variant: [canary.predict(text, key=f"user-{key}").json()["sentiment"] for text in TEXTS]
        for variant, key in first.items()
    }
    assert said["champion"] != said["challenger"], said


def _answers(url: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return answers_without_ids(http)


def test_shadow_answers_on_the_stack_are_the_champion_only_answers(
    stack: RunningStack, apis: dict[str, Api], versions: Versions
) -> None:
    _challenger_served(stack, apis, versions.challenger)
    shadow = apis["shadow"]
    before = shadow.metric('sentiment_shadow_comparisons_total{agreement="disagree"}')

    # The stack's own API serves the same champion with ROLLOUT_MODE off: champion only.
    assert _answers(shadow.url) == _answers(stack.api_url)

    # The challenger did score those texts, off the request path, and mostly disagreed.
    wait_until(
        lambda: (
            shadow.metric('sentiment_shadow_comparisons_total{agreement="disagree"}') >= before + 4
        ),
        30,
        "shadow comparisons",
    )
    assert shadow.metric("sentiment_shadow_dropped_total") == 0


def test_clearing_the_challenger_under_load_returns_to_champion_only(
    stack: RunningStack, apis: dict[str, Api], versions: Versions
) -> None:
    _challenger_served(stack, apis, versions.challenger)
    canary, shadow = apis["canary"], apis["shadow"]
    with Load(canary) as on_canary, Load(shadow) as on_shadow:
        wait_until(
            lambda: any(a.variant == "challenger" for a in on_canary.answers), 60, "a canary"
        )
        cleared = stack.sentiment("challenger", "clear")
        assert cleared.returncode == 0, output(cleared)
        assert f"was version {versions.challenger}" in cleared.stdout, output(cleared)
        for api in apis.values():
            _wait_challenger(api, None)
        # Each loop has one request in flight: the ones after it started after the switch.
        after = len(on_canary.answers) + 1
        on_canary.wait_for(100)
        on_shadow.wait_for(20)

    assert on_canary.failures() == [] and on_shadow.failures() == []
    assert {(a.variant, a.version) for a in on_canary.answers[after:]} == {
        ("champion", versions.champion)
    }
    assert {(a.variant, a.version) for a in on_shadow.answers} == {("champion", versions.champion)}


def _corrupt_copy(stack: RunningStack, version: str) -> str:
    """Corrupt `version`'s pickle and compact scorer in S3 and register its model again: a
    version whose model files are not a model. Returns the new version."""
    client = stack.mlflow()
    source = client.get_model_version(MODEL, version)
    model_id = source.model_id or source.source.removeprefix("models:/")
    s3 = stack.s3()
    pickles = [
        key
        for key in stack.bucket_keys("mlflow-artifacts")
        if f"/models/{model_id}/artifacts/" in key and key.endswith((".pkl", COMPACT_FILE))
    ]
    assert any(key.endswith(".pkl") for key in pickles), f"no pickle of model {model_id} in S3"
    for key in pickles:
        s3.put_object(Bucket="mlflow-artifacts", Key=key, Body=b"this is not a pickle")
    ref = registry.register_version(client, MODEL, f"models:/{model_id}", source.run_id, {})
    return ref.version


def test_a_broken_challenger_is_refused_and_the_champion_keeps_all_traffic(
    stack: RunningStack, apis: dict[str, Api], versions: Versions
) -> None:
    registry.delete_alias(stack.mlflow(), MODEL, ALIAS)
    for api in apis.values():
        _wait_challenger(api, None)
    failed = {mode: api.load_failures() for mode, api in apis.items()}
    broken = _corrupt_copy(stack, versions.challenger)

    with Load(apis["canary"]) as on_canary, Load(apis["shadow"]) as on_shadow:
        on_canary.wait_for(20)
        registry.set_alias(stack.mlflow(), MODEL, ALIAS, broken)
        for mode, api in apis.items():
            refused = partial(lambda api, before: api.load_failures() > before, api, failed[mode])
            wait_until(refused, 60, f"the {mode} API refusing version {broken}")
        on_canary.wait_for(100)
        on_shadow.wait_for(20)

    assert on_canary.failures() == [] and on_shadow.failures() == []
    for load in (on_canary, on_shadow):
        assert {(a.variant, a.version) for a in load.answers} == {("champion", versions.champion)}
    assert all(api.challenger_version() is None for api in apis.values())
    assert all(_serves(api, versions.champion) for api in apis.values())
