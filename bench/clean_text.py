"""Cleaning adversarial texts: `clean_text` against the former tag regex `<[^>]*>` (baseline).

Benchmark, not a test. One API batch may hold 256 texts of 20,000 characters; a run of `<`
made the former regex quadratic (each `<` scanned to the end of the text). Prints the CPU time
of one such batch per kind of text, for the baseline (the former regex in `clean_text`'s place)
and for `clean_text` now. The baseline is timed on 8 texts and scaled to 256.

    uv run python bench/clean_text.py
"""

from __future__ import annotations

import re
import time

from sentiment_mlops.core import text

BATCH, TEXT_CHARS, BASELINE_TEXTS = 256, 20_000, 8
TEXTS = {
    "run of <": "<" * TEXT_CHARS,
    "<a repeated": "<a" * (TEXT_CHARS // 2),
    "< then letters": "<" + "a" * TEXT_CHARS,
    "run of &": "&" * TEXT_CHARS,
    "review-like": ("A fine film.<br /><br />Really. " * 700)[:TEXT_CHARS],
}


def batch_seconds(sample: str, texts: int) -> float:
    start = time.process_time()
    for _ in range(texts):
        text.clean_text(sample)
    return (time.process_time() - start) * BATCH / texts


def main() -> None:
    current = text._HTML_TAG
    print(f"CPU seconds for {BATCH} texts of {TEXT_CHARS:,} characters")
    print(f"{'text':16} {'<[^>]*> (before)':>18} {'clean_text (now)':>18}")
    for name, sample in TEXTS.items():
        text._HTML_TAG = re.compile(r"<[^>]*>")
        try:
            before = batch_seconds(sample, BASELINE_TEXTS)
        finally:
            text._HTML_TAG = current
        print(f"{name:16} {before:18.3f} {batch_seconds(sample, BATCH):18.3f}")


if __name__ == "__main__":
    main()
