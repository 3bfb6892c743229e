import json

import pytest

from maskxai.metrics import Interval, format_interval, summarize, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (17, 19, 0.6860, 0.9706),  # the README's incorrectly_masked row: 89.5 % of 19
        (18, 19, 0.7536, 0.9906),
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_matches_known_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_ends_are_exact_and_the_interval_narrows_with_n():
    assert wilson(0, 7)[0] == 0.0 and wilson(7, 7)[1] == 1.0
    assert wilson(1, 7)[0] > 0.0 and wilson(6, 7)[1] < 1.0
    widths = [hi - lo for lo, hi in (wilson(9 * m, 10 * m) for m in (1, 10, 100))]
    assert widths[0] > widths[1] > widths[2]
    lo90, hi90 = wilson(17, 19, z=1.645)  # a 90 % interval sits inside the 95 % one
    assert wilson(17, 19)[0] < lo90 < hi90 < wilson(17, 19)[1]


def test_wilson_refuses_no_trials_and_impossible_counts():
    with pytest.raises(ValueError, match="at least one trial"):
        wilson(0, 0)
    with pytest.raises(ValueError, match="between 0 and n=3"):
        wilson(4, 3)
    with pytest.raises(ValueError, match="between 0 and n=3"):
        wilson(-1, 3)


def test_summarize_gives_counts_and_intervals_per_class_and_for_accuracy():
    # true: 3 correct, 2 incorrect, no not_masked; one incorrect called correct
    res = summarize([0, 0, 0, 1, 1], [0, 0, 0, 1, 0])
    assert res["per_class"] == {"correctly_masked": 1.0, "incorrectly_masked": 0.5, "not_masked": None}
    iv = res["intervals"]
    assert iv["per_class"]["correctly_masked"] == Interval(3, 3, *wilson(3, 3))
    assert iv["per_class"]["incorrectly_masked"] == Interval(1, 2, *wilson(1, 2))
    assert iv["per_class"]["not_masked"] is None  # no faces: no interval, like the recall
    assert iv["accuracy"] == Interval(4, 5, *wilson(4, 5)) and res["accuracy"] == 0.8
    # JSON carries them as [k, n, low, high]
    back = json.loads(json.dumps(res))["intervals"]
    assert back["per_class"]["incorrectly_masked"] == [1, 2, *wilson(1, 2)] and back["per_class"]["not_masked"] is None
    assert summarize([], [])["intervals"]["accuracy"] is None


def test_format_interval():
    assert format_interval(Interval(17, 19, *wilson(17, 19))) == "89.5 % (17/19, 68.6-97.1)"
    assert format_interval([17, 19, *wilson(17, 19)], ci="95 % CI ") == "89.5 % (17/19, 95 % CI 68.6-97.1)"
    assert format_interval(None) == "-"
