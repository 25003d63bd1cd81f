"""Reading the three sources into text/label frames."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from sentiment_mlops.acquire import AcquireError
from sentiment_mlops.acquire.sources import frame_from_hf, read_aclimdb, read_table
from tests.data.helpers import expected_split

if TYPE_CHECKING:  # imported by the tests that build a dataset: ~1.6 s, not at collection
    import datasets


def _as_set(frame: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(frame["text"], frame["label"], strict=True))


@pytest.mark.parametrize("split", ["train", "test", "all"])
def test_aclimdb_folder_reads_exactly_the_labelled_reviews_of_the_split(
    aclimdb_folder: Path, reviews: pd.DataFrame, split: str
) -> None:
    frame = read_aclimdb(aclimdb_folder, split)  # type: ignore[arg-type]

    assert list(frame.columns) == ["text", "label"]
    assert _as_set(frame) == _as_set(expected_split(reviews, split))
    assert "An unlabelled review." not in set(frame["text"])


@pytest.mark.parametrize("split", ["train", "test", "all"])
def test_tarball_and_folder_give_the_same_frame(
    aclimdb_folder: Path, aclimdb_tarball: Path, split: str
) -> None:
    from_folder = read_aclimdb(aclimdb_folder, split)  # type: ignore[arg-type]
    from_tarball = read_aclimdb(aclimdb_tarball, split)  # type: ignore[arg-type]

    pd.testing.assert_frame_equal(from_folder, from_tarball)


def test_folder_containing_aclimdb_is_accepted(aclimdb_folder: Path) -> None:
    pd.testing.assert_frame_equal(
        read_aclimdb(aclimdb_folder.parent, "train"), read_aclimdb(aclimdb_folder, "train")
    )


def test_labels_follow_the_pos_and_neg_folders(aclimdb_folder: Path) -> None:
    frame = read_aclimdb(aclimdb_folder, "all")
    texts_in_pos = {p.read_text(encoding="utf-8") for p in aclimdb_folder.glob("*/pos/*.txt")}

    assert set(frame.loc[frame["label"] == 1, "text"]) == texts_in_pos
    assert texts_in_pos.isdisjoint(frame.loc[frame["label"] == 0, "text"])


def test_non_utf8_bytes_do_not_stop_the_read(tmp_path: Path) -> None:
    for label in ("pos", "neg"):
        folder = tmp_path / "train" / label
        folder.mkdir(parents=True)
        (folder / "0_5.txt").write_bytes(b"caf\xe9 " + label.encode())

    frame = read_aclimdb(tmp_path, "train")

    assert sorted(frame["label"]) == [0, 1]
    assert all(text.startswith("caf") for text in frame["text"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.tar.gz", "no such file"),
        (lambda p: (p / "x.tar.gz").write_bytes(b"not a tar") and p / "x.tar.gz", "tar archive"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "aclImdb layout"),
    ],
    ids=["missing", "not-a-tarball", "empty-folder"],
)
def test_unusable_aclimdb_paths_raise_a_clear_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(AcquireError, match=message):
        read_aclimdb(make(tmp_path), "train")


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_truncated_tarball_is_an_acquire_error(
    aclimdb_tarball: Path, tmp_path: Path, fraction: float
) -> None:
    """Wherever a download stops, even on a member boundary, the archive is refused."""
    data = aclimdb_tarball.read_bytes()
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(data[: int(len(data) * fraction)])

    with pytest.raises(AcquireError, match="tar archive"):
        read_aclimdb(truncated, "all")


def test_tarball_without_the_requested_split_says_so(tmp_path: Path) -> None:
    path = tmp_path / "only_test.tar.gz"
    review = tmp_path / "r.txt"
    review.write_text("fine", encoding="utf-8")
    with tarfile.open(path, "w:gz") as archive:
        archive.add(review, arcname="aclImdb/test/pos/0_9.txt")

    with pytest.raises(AcquireError, match="train/pos"):
        read_aclimdb(path, "train")


def test_csv_source_uses_the_training_loader_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    pd.DataFrame(
        {"review": ["good", "bad", "great"], "sentiment": ["positive", "negative", "positive"]}
    ).to_csv(path, index=False)

    frame = read_table(path)

    assert list(frame.columns) == ["text", "label"]
    assert list(frame["label"]) == [1, 0, 1]


def test_csv_without_a_label_column_is_an_acquire_error(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["good", "bad"]}).to_csv(path, index=False)

    with pytest.raises(AcquireError, match="label"):
        read_table(path)


# --- Hugging Face: parsing a locally built Dataset (the hub itself is unreachable here) -------


def _imdb_like(names: list[str], rows: list[tuple[str, int]]) -> datasets.Dataset:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    text, label = zip(*rows, strict=True)
    return datasets.Dataset.from_dict({"text": list(text), "label": list(label)}, features)


def test_hf_dataset_with_imdb_features_becomes_text_label_frame() -> None:
    dataset = _imdb_like(["neg", "pos"], [("awful", 0), ("superb", 1), ("dull", 0)])

    frame = frame_from_hf(dataset)

    assert list(frame.columns) == ["text", "label"]
    assert list(zip(frame["text"], frame["label"], strict=True)) == [
        ("awful", 0),
        ("superb", 1),
        ("dull", 0),
    ]


def test_hf_labels_are_mapped_by_class_name_not_position() -> None:
    dataset = _imdb_like(["positive", "negative"], [("superb", 0), ("awful", 1)])

    frame = frame_from_hf(dataset)

    assert dict(zip(frame["text"], frame["label"], strict=True)) == {"superb": 1, "awful": 0}


def test_hf_unlabelled_rows_are_dropped() -> None:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.Value("int64")}
    )
    dataset = datasets.Dataset.from_dict(
        {"text": ["a", "b", "c"], "label": [1, -1, 0]}, features=features
    )

    frame = frame_from_hf(dataset)

    assert list(frame["text"]) == ["a", "c"]
    assert list(frame["label"]) == [1, 0]


def test_hf_dataset_without_label_column_is_an_acquire_error() -> None:
    import datasets

    with pytest.raises(AcquireError, match="label"):
        frame_from_hf(datasets.Dataset.from_dict({"text": ["a"]}))
