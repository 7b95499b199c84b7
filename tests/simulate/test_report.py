"""Report helpers of the simulator: percentiles and the word edit distance behind WER figures."""

from __future__ import annotations

import pytest

from voxplug.simulate.report import edit_distance, percentile


@pytest.mark.parametrize(
    ("ref", "hyp", "distance"),
    [
        ("what time is it", "what time is it", 0),
        ("what time is it", "what time limit", 2),  # one substitution, one deletion
        ("", "hello there", 2),
        ("set a timer", "", 3),
        ("the dentist at nine", "the mentor at nine", 1),
    ],
)
def test_edit_distance_counts_word_edits(ref: str, hyp: str, distance: int) -> None:
    assert edit_distance(ref.split(), hyp.split()) == distance
    assert edit_distance(hyp.split(), ref.split()) == distance  # symmetric


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
