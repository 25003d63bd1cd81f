"""Atomic writes: an interrupted write leaves neither a partial file nor a temporary file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.acquire.atomic import atomic_output, write_csv_atomic


class _Exploding:
    """A cell value whose text conversion fails, as a crash in the middle of a write would.

    It records the size of the files in the folder at that moment, to show that the write had
    already put rows on disk.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sizes_at_crash: dict[str, int] = {}

    def __str__(self) -> str:
        self.sizes_at_crash = {p.name: p.stat().st_size for p in self.folder.iterdir()}
        raise RuntimeError("interrupted mid-write")


def _frame_failing_late(folder: Path, rows: int = 200_000) -> tuple[pd.DataFrame, _Exploding]:
    # pandas writes 50,000-row chunks here (2 columns), so several chunks precede the failure.
    texts: list[object] = [f"review number {i} " * 5 for i in range(rows)]
    bomb = _Exploding(folder)
    texts[rows - 10] = bomb
    return pd.DataFrame({"text": texts, "label": [i % 2 for i in range(rows)]}), bomb


def test_csv_is_written_completely(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ['a, quoted "one"', "two\nlines"], "label": [1, 0]})
    dest = tmp_path / "out.csv"

    write_csv_atomic(frame, dest)

    pd.testing.assert_frame_equal(pd.read_csv(dest), frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


@pytest.mark.slow  # a process killed mid-write: over a second of CPU
def test_failure_mid_write_leaves_no_file_and_no_temp_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    frame, bomb = _frame_failing_late(tmp_path)

    with pytest.raises(RuntimeError, match="mid-write"):
        write_csv_atomic(frame, dest)

    [(temp_name, size)] = bomb.sizes_at_crash.items()
    assert temp_name.endswith(".tmp")
    assert size > 1_000_000  # rows were written before the crash...
    assert list(tmp_path.iterdir()) == []  # ...and nothing is left of them


@pytest.mark.slow  # a process killed mid-write: over a second of CPU
def test_failure_mid_write_keeps_the_previous_file_intact(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    dest.write_text("text,label\nold,1\n", encoding="utf-8")

    frame, _ = _frame_failing_late(tmp_path)

    with pytest.raises(RuntimeError):
        write_csv_atomic(frame, dest)

    assert dest.read_text(encoding="utf-8") == "text,label\nold,1\n"
    assert list(tmp_path.iterdir()) == [dest]


def test_partial_bytes_are_really_written_before_the_failure(tmp_path: Path) -> None:
    # Guards the two tests above: the temporary file does receive data before the crash, so
    # "no file left" means it was cleaned up, not that nothing was ever written.
    seen: list[int] = []
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.csv") as tmp:
        tmp.write_bytes(b"x" * 1000)
        seen.append(tmp.stat().st_size)
        raise RuntimeError("crash")

    assert seen == [1000]
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_also_cleans_up(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "out.csv") as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    assert list(tmp_path.iterdir()) == []
