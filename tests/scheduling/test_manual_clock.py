import pytest

from sloserve.scheduling import clock


def test_manual_clock_moves_only_when_told():
    source = clock.ManualClock(5.0)

    source.advance(0.25)
    first = source.now()
    source.set(7.0)

    assert first == pytest.approx(5.25)
    assert source.now() == pytest.approx(7.0)


def test_manual_clock_never_goes_backwards():
    source = clock.ManualClock(5.0)

    with pytest.raises(ValueError, match="never goes backwards"):
        source.set(4.0)
    with pytest.raises(ValueError, match="seconds"):
        source.advance(-1.0)
    assert source.now() == pytest.approx(5.0)
