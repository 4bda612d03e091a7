"""RTP port pair allocation (sans-IO)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.rtp.ports import PortAllocator


def test_pairs_are_even_and_inside_the_range() -> None:
    allocator = PortAllocator(41000, 41009)
    assert allocator.capacity == 5
    ports = [allocator.allocate() for _ in range(5)]
    assert ports == [41000, 41002, 41004, 41006, 41008]
    assert allocator.in_use == 5


def test_odd_bounds_only_give_whole_pairs() -> None:
    allocator = PortAllocator(41001, 41010)
    ports = []
    while (port := allocator.allocate()) is not None:
        ports.append(port)
    assert ports == [41002, 41004, 41006, 41008]  # 41010 would need 41011
    assert all(p % 2 == 0 and p + 1 <= 41010 for p in ports)


def test_exhaustion_returns_none_and_release_makes_room() -> None:
    allocator = PortAllocator(41000, 41003)
    a, b = allocator.allocate(), allocator.allocate()
    assert allocator.allocate() is None
    assert a is not None and b is not None
    allocator.release(a)
    assert allocator.allocate() == a
    assert allocator.in_use == 2


def test_freed_pair_is_reused_last() -> None:
    allocator = PortAllocator(41000, 41009)
    first = allocator.allocate()
    second = allocator.allocate()
    assert first is not None and second is not None
    allocator.release(first)
    allocator.release(second)
    # The three never-used pairs come before the freed ones, which come in release order.
    order = [allocator.allocate() for _ in range(5)]
    assert order == [41004, 41006, 41008, first, second]


def test_release_of_a_port_not_allocated_is_an_error() -> None:
    allocator = PortAllocator(41000, 41009)
    port = allocator.allocate()
    assert port is not None
    with pytest.raises(ValueError):
        allocator.release(port + 2)
    allocator.release(port)
    with pytest.raises(ValueError):
        allocator.release(port)  # twice would hand one pair to two calls
    assert allocator.in_use == 0
    assert allocator.available == allocator.capacity


def test_unusable_pair_goes_to_the_back_and_is_counted() -> None:
    allocator = PortAllocator(41000, 41005)
    taken = allocator.allocate()
    assert taken == 41000
    allocator.mark_unusable(taken)
    assert allocator.bind_failures == 1
    assert allocator.in_use == 0
    assert [allocator.allocate() for _ in range(3)] == [41002, 41004, 41000]
    with pytest.raises(ValueError):
        allocator.mark_unusable(41006)


@pytest.mark.parametrize(("low", "high"), [(0, 100), (41000, 40000), (41000, 41000), (1, 70000)])
def test_bad_ranges_are_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError):
        PortAllocator(low, high)


@given(st.lists(st.booleans(), max_size=200))
def test_no_pair_is_ever_handed_out_twice(ops: list[bool]) -> None:
    allocator = PortAllocator(41000, 41019)
    held: list[int] = []
    for allocate in ops:
        if allocate or not held:
            port = allocator.allocate()
            if port is None:
                assert len(held) == allocator.capacity
                continue
            assert port not in held
            held.append(port)
        else:
            allocator.release(held.pop(0))
        assert allocator.in_use == len(held)
        assert allocator.in_use + allocator.available == allocator.capacity
