"""What the challenger rollout tests ask an API: in process (TestClient) or over HTTP (httpx)."""

from __future__ import annotations

from typing import Any, Protocol

TEXTS = [
    "A wonderful, moving film. I loved every minute.",
    "Dull, predictable and far too long.",
    "Brilliant acting and a clever story.",
    "The worst film I have seen this year.",
]


class Poster(Protocol):
    def post(self, url: str, *, json: Any) -> Any: ...


def answers_without_ids(http: Poster) -> list[dict[str, Any]]:
    """Each text's `/predict` answer and the `/predict/batch` answer for all of them, without
    their random `prediction_id`s: two services' answers compare equal when their models agree."""
    found = []
    for text in TEXTS:
        response = http.post("/predict", json={"text": text})
        assert response.status_code == 200, response.text
        body = response.json()
        body.pop("prediction_id")
        found.append(body)
    response = http.post("/predict/batch", json={"texts": TEXTS})
    assert response.status_code == 200, response.text
    batch = response.json()
    for body in batch["predictions"]:
        body.pop("prediction_id")
    return [*found, batch]
