"""The identifier pool: random, distinct, refilled across its buffer boundary."""

from __future__ import annotations

from softswitch.ids import RandomPool
from softswitch.sip.dialog import new_branch, new_call_id, new_tag


def test_identifiers_are_distinct_across_many_refills() -> None:
    pool = RandomPool()
    seen = {pool.hex(8) for _ in range(5000)}  # 40 KB: ten refills of the 4 KiB buffer
    assert len(seen) == 5000
    assert all(len(item) == 16 for item in seen)


def test_takes_larger_than_the_buffer_are_served_whole() -> None:
    pool = RandomPool()
    assert len(pool.take(10_000)) == 10_000


def test_sip_identifiers_have_their_shapes() -> None:
    branch = new_branch()
    assert branch.startswith("z9hG4bK") and len(branch) > len("z9hG4bK") + 8
    assert len(new_tag()) == 12
    assert new_call_id("pbx").endswith("@pbx")
    assert len({new_tag() for _ in range(1000)}) == 1000
