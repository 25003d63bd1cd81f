"""The compact scorer gives the pipeline's own probabilities from one numpy file, loads without
scikit-learn, scipy or pandas, and refuses a file that is damaged or altered."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sentiment_mlops.core.compact_export import compact_bytes, compact_model_of
from sentiment_mlops.core.compact_file import (
    CompactCollisionError,
    CompactModel,
    CompactScorerError,
    TermTable,
    vocabulary_keys,
)
from sentiment_mlops.core.compact_scorer import CompactScorer
from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import TrainingParams
from tests.unit.test_lean_scorer import EDGE_TEXTS, PARAMS, _corpus, _fitted, _other_shapes

TOLERANCE = 1e-12


def _fitted_full(params: TrainingParams, rows: int) -> tuple[Pipeline, list[str]]:
    """`_fitted`, with the vocabulary full and cut at its limit, as with real data."""
    pipeline, texts = _fitted(params, rows=rows)
    assert len(pipeline.named_steps["tfidf"].vocabulary_) == params.vectorizer.max_features
    return pipeline, texts


def _saved(pipeline: Pipeline) -> bytes:
    data = compact_bytes(pipeline)
    assert data is not None
    return data


@pytest.fixture(scope="module")
def fitted() -> tuple[Pipeline, list[str]]:
    """Our pipeline with the params.yaml settings but a 5,000-term vocabulary, fitted on 600
    generated reviews (~35,000 distinct 1-2-grams: the vocabulary is full and cut at its
    limit), and texts to score (unseen, edge cases, training rows).

    What the tests of this fixture check (refusals, the file's revisions, the imports) does not
    depend on the vocabulary's size; the real 100,000 terms (4,000 reviews, a tenth of this
    module's CPU for this one fit and save) are in the exactness test, in the full suite."""
    return _fitted_full(PARAMS.updated({"vectorizer": {"max_features": 5000}}), rows=600)


@pytest.fixture(scope="module")
def saved(fitted: tuple[Pipeline, list[str]]) -> bytes:
    return _saved(fitted[0])


@pytest.mark.slow
def test_equals_predict_proba_exactly_with_the_real_params() -> None:
    """The real params.yaml settings (100,000 word 1-2-grams) on 4,000 generated reviews:
    ~142,000 distinct 1-2-grams, as many as with more rows, for two thirds of the fitting time
    of 6,000."""
    pipeline, texts = _fitted_full(PARAMS, rows=4000)
    scorer = CompactScorer.load(_saved(pipeline), TOLERANCE)
    long_texts = ["great film " * 5000, "😀 " * 2000 + "awful", "x" * 100_000]
    texts = [*texts, *EDGE_TEXTS, *long_texts]
    for batch in (
        [texts[0]], [""], ["   "], ["😀"], texts[:2], texts[-8:], texts[:64], long_texts,
        [*long_texts, "", "ok"], texts,
    ):  # fmt: skip
        np.testing.assert_array_equal(
            scorer.predict_proba(batch), pipeline.predict_proba(batch), err_msg=str(batch[:2])
        )
    singles = np.concatenate([scorer.predict_proba([text]) for text in texts[:300]])
    np.testing.assert_array_equal(singles, pipeline.predict_proba(texts[:300]))
    assert scorer.classes_.tolist() == pipeline.classes_.tolist()


@pytest.mark.parametrize(
    ("change", "binary"),
    [({"features": {"nb_alpha": None}}, False), ({"vectorizer": {"sublinear_tf": False}}, True)],
    ids=["no-nb", "linear-binary-tf"],
)
@pytest.mark.slow  # a model trained per setting: over a second of CPU
def test_equals_predict_proba_for_other_word_settings(change: dict[str, Any], binary: bool) -> None:
    training, labels, unseen = _corpus(11, 600)
    pipeline = build_pipeline(PARAMS.updated(change))
    pipeline.named_steps["tfidf"].binary = binary
    pipeline.fit(training, labels)
    texts = [*unseen, *EDGE_TEXTS, *training[:50]]
    scorer = CompactScorer.load(compact_model_of(pipeline).to_bytes(), TOLERANCE)
    np.testing.assert_array_equal(scorer.predict_proba(texts), pipeline.predict_proba(texts))


@pytest.mark.slow  # a model trained per pipeline: over a second of CPU
def test_pipelines_it_cannot_score_get_no_compact_file() -> None:
    char_wb, _ = _fitted(PARAMS.updated({"features": {"set": "char_wb"}}), rows=120)
    for name, pipeline in {**_other_shapes(), "char_wb": char_wb}.items():
        assert compact_bytes(pipeline) is None, name


def _terms(model: CompactModel) -> list[str]:
    assert isinstance(model.vocabulary, TermTable)
    return model.vocabulary.terms()


def _tampered(data: bytes, **changes: Any) -> bytes:
    return replace(CompactModel.from_bytes(data), **changes).to_bytes()


@pytest.mark.slow  # a model trained and saved: over a second of CPU
def test_an_altered_or_damaged_file_is_refused(saved: bytes) -> None:
    model = CompactModel.from_bytes(saved)
    coef = model.coef.copy()
    coef[:: len(coef) // 50] += 0.5  # fifty weights, spread over the columns the probes use
    terms = _terms(model)
    terms[0], terms[1] = terms[1], terms[0]
    expected = model.expected.copy()
    expected[0, 0] += 1e-9
    altered = {
        "coef": _tampered(saved, coef=coef),
        "terms": _tampered(saved, vocabulary=TermTable.of_terms(terms)),
        "expected": _tampered(saved, expected=expected),
        "sublinear_tf": _tampered(saved, sublinear_tf=not model.sublinear_tf),
    }
    for name, data in altered.items():
        with pytest.raises(CompactScorerError, match="probe texts score"):
            CompactScorer.load(data, TOLERANCE)
        assert name
    short = _tampered(saved, idf=model.idf[:-1] if model.idf is not None else None)
    damaged = {
        "truncated": saved[: len(saved) // 2],
        "not a zip": b"this is not a compact scorer",
        "empty": b"",
        "short idf": short,
        "a pickled array": _with_array(saved, "coef", np.array([object()], dtype=object)),
        "float32 coef": _with_array(saved, "coef", model.coef.astype(np.float32)),
        "no classes": _without(saved, "classes"),
    }
    for name, data in damaged.items():
        with pytest.raises(CompactScorerError):
            CompactScorer.load(data, TOLERANCE)
        assert name


def _arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _with_array(data: bytes, name: str, value: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{**_arrays(data), name: value})
    return buffer.getvalue()


def _without(data: bytes, *names: str) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{key: v for key, v in _arrays(data).items() if key not in names})
    return buffer.getvalue()


# What a file of revision 0 (before the term table) did not have.
_REVISION_1 = ("format_revision", "tokens", "term_tokens")


def test_files_of_either_revision_load_and_score_alike(
    fitted: tuple[Pipeline, list[str]], saved: bytes
) -> None:
    """Versions logged before the term table still load; a later file still holds what a
    reader of revision 0 reads (format 1, the terms in column order), so such a server still
    serves it."""
    pipeline, texts = fitted
    arrays = _arrays(saved)
    assert arrays["format"].tolist() == [1] and arrays["format_revision"].tolist() == [1]
    vocabulary = pipeline.named_steps["tfidf"].vocabulary_
    in_order = sorted(vocabulary, key=vocabulary.__getitem__)
    assert arrays["terms"].tobytes().decode("utf-8").split("\n") == in_order
    revision_0 = _without(saved, *_REVISION_1)
    old_vocabulary = CompactModel.from_bytes(revision_0).vocabulary
    assert isinstance(old_vocabulary, str)
    # The same keys from the term table as from the terms' strings, column by column.
    keys = vocabulary_keys(CompactModel.from_bytes(saved).vocabulary)
    assert keys.tolist() == vocabulary_keys(old_vocabulary).tolist()
    expected = pipeline.predict_proba(texts)
    for data in (saved, revision_0):
        np.testing.assert_array_equal(CompactScorer.load(data, TOLERANCE).predict_proba(texts),
                                      expected)  # fmt: skip
    # Written again, a revision-0 model becomes a file of the latest revision.
    rewritten = CompactModel.from_bytes(revision_0).to_bytes()
    assert _arrays(rewritten)["term_tokens"].tolist() == arrays["term_tokens"].tolist()


def test_a_damaged_term_table_is_refused(saved: bytes) -> None:
    numbers = _arrays(saved)["term_tokens"]
    tokens = _arrays(saved)["tokens"].tobytes().decode("utf-8").split("\n")
    unknown, gap, too_long = numbers.copy(), numbers.copy(), np.vstack([numbers, numbers[:1]])
    unknown[0, 7] = len(tokens)  # a token number past the tokens
    gap[:, 3] = [-1, 5]  # a second token after the term's end
    damaged = {
        "unknown token": _with_array(saved, "term_tokens", unknown),
        "gap": _with_array(saved, "term_tokens", gap),
        "longer than the n-gram range": _with_array(saved, "term_tokens", too_long),
        "int64": _with_array(saved, "term_tokens", numbers.astype(np.int64)),
        "no tokens": _without(saved, "tokens"),
    }
    for name, data in damaged.items():
        with pytest.raises(CompactScorerError, match=r"term table|tokens"):
            CompactScorer.load(data, TOLERANCE)
        assert name


def test_terms_whose_keys_collide_are_not_scored(saved: bytes) -> None:
    model = CompactModel.from_bytes(saved)
    terms = _terms(model)
    terms[1] = terms[0]  # the same key twice: the table cannot tell their columns apart
    with pytest.raises(CompactCollisionError):
        CompactScorer(replace(model, vocabulary=TermTable.of_terms(terms)))


# A fresh interpreter: load the file, score, and report what was imported.
LOAD_ALONE = """
import json, sys
from pathlib import Path
from sentiment_mlops.core.compact_scorer import CompactScorer
scorer = CompactScorer.load(Path(sys.argv[1]).read_bytes(), 1e-12)
proba = scorer.predict_proba(json.loads(sys.argv[2]))
print(json.dumps({"proba": proba.tolist(), "modules": sorted(sys.modules)}))
"""


def test_loading_and_scoring_import_numpy_only(
    fitted: tuple[Pipeline, list[str]], saved: bytes, tmp_path: Path
) -> None:
    pipeline, texts = fitted
    path = tmp_path / "compact_scorer.npz"
    path.write_bytes(saved)
    texts = texts[:20]
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ALONE, str(path), json.dumps(texts)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    # Another process, other string hashes: the keys are rebuilt from the terms, and agree.
    assert answer["proba"] == pipeline.predict_proba(texts).tolist()
    unwanted = ("sklearn", "scipy", "pandas", "mlflow", "sentiment_mlops.core.vectorizer")
    imported = [m for m in answer["modules"] if m.split(".")[0] in unwanted or m in unwanted]
    assert imported == []
