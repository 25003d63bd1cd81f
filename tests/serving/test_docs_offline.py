"""`/docs` and `/redoc` work on a host without internet access: every script, style and icon
they reference is served by the API itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import MlflowStore


class _References(HTMLParser):
    """The URLs a page loads: src, href and ReDoc's spec-url attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        self.urls += [v for k, v in attrs if k in {"src", "href", "spec-url"} and v is not None]


@pytest.fixture(scope="module")
def docs_api(mlflow_store: MlflowStore) -> Iterator[TestClient]:
    with TestClient(create_app(mlflow_store.settings())) as client:
        yield client


@pytest.mark.parametrize(("page", "scripts"), [("/docs", 2), ("/redoc", 1)])
def test_docs_load_only_same_origin_assets(docs_api: TestClient, page: str, scripts: int) -> None:
    html = docs_api.get(page)
    assert html.status_code == 200
    assert "://" not in html.text, "an absolute URL: the page would need another host"
    parser = _References()
    parser.feed(html.text)
    # Swagger UI's inline script names the OpenAPI document as `url: '...'`.
    urls = parser.urls + re.findall(r"url: '([^']*)'", html.text)
    assert html.text.count("<script") == scripts
    assert "/openapi.json" in urls
    assert len(urls) >= 3  # at least script, icon and the OpenAPI document
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = docs_api.get(url)
        assert asset.status_code == 200, url
        # The real files: Swagger UI's bundle and ReDoc are over 1 MB, its CSS over 100 kB.
        minimum = 100_000 if url.endswith((".js", ".css")) else 1_000
        assert len(asset.content) > minimum, (url, len(asset.content))
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
