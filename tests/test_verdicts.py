"""The words of a verdict (clusterpolicy.studies.verdicts): one label for every combination of a
rule that fired or not, data with or without a truth file, and a truth with or without the
pattern."""

from __future__ import annotations

import pytest

from clusterpolicy.studies import verdicts as v


@pytest.mark.parametrize(
    ("fired", "synthetic", "truth_has_pattern", "expected"),
    [
        # synthetic data with a truth file: the methods recover what was built in, or not
        (True, True, True, v.RECOVERED),
        (True, True, None, v.RECOVERED),
        (True, True, False, v.FALSE_POSITIVE),
        (False, True, True, v.FALSE_NEGATIVE),
        (False, True, False, v.NOT_RECOVERED),
        (False, True, None, v.NOT_RECOVERED),
        # real data: only these reproduce a finding
        (True, False, None, v.REPRODUCED),
        (False, False, None, v.NOT_REPRODUCED),
        # a rule that could not be applied, on any data
        (None, True, True, v.NOT_TESTABLE),
        (None, True, None, v.NOT_TESTABLE),
        (None, False, None, v.NOT_TESTABLE),
    ],
)
def test_label_of_every_branch(fired, synthetic, truth_has_pattern, expected):
    assert v.label(fired, synthetic, truth_has_pattern) == expected


def test_the_words_differ_by_data():
    assert v.RECOVERED == "recovered"
    assert v.NOT_RECOVERED == "not recovered"
    assert v.FALSE_NEGATIVE == "not recovered (false negative)"
    assert (v.REPRODUCED, v.NOT_REPRODUCED) == ("reproduced", "not reproduced")
    assert v.NOT_TESTABLE == "not testable with these data"
    assert not set(v.SYNTHETIC_LABELS) & set(v.REAL_LABELS)
    # no synthetic-data verdict speaks of reproducing
    assert not any("reproduc" in label for label in v.SYNTHETIC_LABELS)


@pytest.mark.parametrize("truth_has_pattern", [True, False])
def test_real_data_have_no_truth_to_compare_with(truth_has_pattern):
    with pytest.raises(ValueError, match="without a truth file"):
        v.label(True, False, truth_has_pattern)


def test_fired_reads_a_verdict_back():
    assert [v.fired(label) for label in v.LABELS] == [
        label in (v.RECOVERED, v.FALSE_POSITIVE, v.REPRODUCED) for label in v.LABELS]
    for fired in (True, False):
        for synthetic, pattern in ((True, True), (True, False), (True, None), (False, None)):
            assert v.fired(v.label(fired, synthetic, pattern)) is fired
    with pytest.raises(ValueError, match="not a verdict"):
        v.fired("reproduced (sort of)")


def test_a_false_negative_shows_the_power_of_its_rule():
    assert v.with_power(v.FALSE_NEGATIVE, 0.82) == (
        "not recovered (false negative; the rule fires in 82% of draws from this generator)")
    # without a power, and for every other verdict, the label alone
    assert v.with_power(v.FALSE_NEGATIVE, None) == v.FALSE_NEGATIVE
    for label in set(v.LABELS) - {v.FALSE_NEGATIVE}:
        assert v.with_power(label, 0.5) == label
