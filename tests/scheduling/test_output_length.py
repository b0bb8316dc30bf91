import pytest

from sloserve.scheduling import output_length


def test_prior_is_used_until_enough_outputs_are_seen():
    estimator = output_length.OutputLengthEstimator(prior_tokens=300, min_observations=3)
    estimator.observe(10)
    estimator.observe(10)

    assert estimator.estimate(max_tokens=1000) == 300

    estimator.observe(10)
    assert estimator.estimate(max_tokens=1000) == 10


def test_estimate_is_a_high_quantile_of_recent_outputs():
    estimator = output_length.OutputLengthEstimator(quantile=0.9, min_observations=1)
    for tokens in range(1, 101):
        estimator.observe(tokens)

    assert estimator.estimate(max_tokens=1000) == 90


def test_estimate_never_exceeds_max_tokens_nor_drops_below_one():
    estimator = output_length.OutputLengthEstimator(min_observations=1)
    estimator.observe(500)

    assert estimator.estimate(max_tokens=64) == 64

    estimator = output_length.OutputLengthEstimator(min_observations=1)
    estimator.observe(0)
    assert estimator.estimate(max_tokens=64) == 1


def test_old_outputs_leave_the_window():
    estimator = output_length.OutputLengthEstimator(window=5, quantile=1.0, min_observations=1)
    estimator.observe(1000)
    for _ in range(5):
        estimator.observe(20)

    assert estimator.observations == 5
    assert estimator.estimate(max_tokens=4096) == 20


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"window": 0}, "window"),
        ({"quantile": 0.0}, "quantile"),
        ({"prior_tokens": 0}, "prior_tokens"),
        ({"window": 10, "min_observations": 11}, "min_observations"),
    ],
)
def test_settings_errors_name_the_setting(settings, field):
    with pytest.raises(ValueError, match=field):
        output_length.OutputLengthEstimator(**settings)


def test_remaining_is_a_quantile_of_the_outputs_longer_than_what_was_produced():
    estimator = output_length.OutputLengthEstimator(min_observations=1)
    for tokens in (10, 100, 200, 300, 400):
        estimator.observe(tokens)

    assert estimator.remaining(max_tokens=None, generated=0, quantile=0.5) == 200
    # past 150 tokens, only 200, 300 and 400 remain possible: the median is 300
    assert estimator.remaining(max_tokens=None, generated=150, quantile=0.5) == 150
    assert estimator.remaining(max_tokens=280, generated=150, quantile=0.5) == 130
    assert estimator.remaining(max_tokens=None, generated=150, quantile=1.0) == 250


def test_remaining_falls_back_to_the_prior_or_twice_what_was_produced():
    estimator = output_length.OutputLengthEstimator(prior_tokens=64, min_observations=1)
    assert estimator.remaining(max_tokens=None, generated=10, quantile=0.5) == 54
    estimator.observe(100)

    # nothing seen ran longer than 500 tokens: assume it runs as long again
    assert estimator.remaining(max_tokens=None, generated=500, quantile=0.5) == 500
    assert estimator.remaining(max_tokens=501, generated=500, quantile=0.5) == 1
