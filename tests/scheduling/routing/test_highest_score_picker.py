from routing_helpers import candidates, engine

from sloserve.scheduling.routing import pickers


def test_picks_the_highest_total_and_the_first_among_ties():
    picker = pickers.HighestScorePicker()
    pool = candidates(engine("a"), engine("b"), engine("c"))

    assert picker.pick(pool, [0.2, 0.9, 0.5]) == 1
    assert picker.pick(pool, [0.7, 0.3, 0.7]) == 0
