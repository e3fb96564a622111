import math

import pytest

from fastest.errors import FastestValueError
from fastest.schedule import EpochScheduler, RepeatScheduler, cosine_decay


def closed_form(time, cycle_length, init_lr, min_lr=1e-6, start=1, multiplier=1, warmup=False):
    """FastEstimator's published formula: the cycle index from a logarithm, then a half cosine.

    (The logarithm is rounded before ``ceil`` so that float noise at a cycle's last step does not skip a cycle.)
    """
    if time < start:
        return init_lr * time / start if warmup else init_lr
    t = time - start + 1
    if multiplier == 1:
        index = math.ceil(t / cycle_length) - 1
        done = index * cycle_length
    else:
        index = math.ceil(round(math.log(t * (multiplier - 1) / cycle_length + 1) / math.log(multiplier), 9)) - 1
        done = cycle_length * (multiplier ** index - 1) / (multiplier - 1)
    length = cycle_length * multiplier ** index
    return (init_lr - min_lr) / 2 * math.cos((t - done) / length * math.pi) + (init_lr + min_lr) / 2


@pytest.mark.parametrize("cycle_length, start, multiplier, warmup", [
    (10, 1, 1, False), (7, 5, 1, True), (7, 5, 1, False), (3, 1, 2, False), (5, 4, 3, True), (4, 2, 1.5, False),
])
def test_cosine_decay_equals_the_closed_form(cycle_length, start, multiplier, warmup):
    for time in range(1, 200):
        expected = closed_form(time, cycle_length, 0.1, 1e-4, start, multiplier, warmup)
        got = cosine_decay(time, cycle_length, 0.1, 1e-4, start=start, cycle_multiplier=multiplier, warmup=warmup)
        assert got == pytest.approx(expected, abs=1e-12), time


def test_cosine_decay_shape():
    lrs = [cosine_decay(t, cycle_length=100, init_lr=1.0, min_lr=0.0) for t in range(1, 201)]
    assert lrs[99] == 0.0 and lrs[100] == lrs[0] and lrs[49] == pytest.approx(0.5)  # end, restart, middle
    assert all(a > b for a, b in zip(lrs[:99], lrs[1:100]))  # decreasing inside a cycle
    warm = [cosine_decay(t, cycle_length=10, init_lr=1.0, start=5, warmup=True) for t in range(1, 5)]
    assert warm == [0.2, 0.4, 0.6, 0.8]
    assert cosine_decay(3, cycle_length=10, init_lr=1.0, start=5) == 1.0  # no warmup: flat before start
    assert cosine_decay(10**7, cycle_length=1, init_lr=1.0, min_lr=0.25) == 0.25  # huge steps stay cheap


def test_cosine_decay_errors():
    with pytest.raises(FastestValueError, match="cycle_multiplier must be >= 1, received 0.5"):
        cosine_decay(1, 10, 0.1, cycle_multiplier=0.5)
    with pytest.raises(FastestValueError, match="cycle_length must be an int >= 1, received 0"):
        cosine_decay(1, 0, 0.1)


def test_epoch_and_repeat_schedulers():
    sched = EpochScheduler({1: "a", 4: None, 6: "b"})
    assert [sched.get_current_value(e) for e in range(1, 8)] == ["a", "a", "a", None, None, "b", "b"]
    assert sched.change_epochs(5) == [1, 4]
    repeat = RepeatScheduler([1, 2, 3])
    assert [repeat.get_current_value(e) for e in range(1, 8)] == [1, 2, 3, 1, 2, 3, 1]
