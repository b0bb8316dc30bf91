"""Reading the kind network fence's counters."""

from __future__ import annotations

from sloserve_dev.kind import egress

LISTING = """Chain SLOSERVE-KIND-EGRESS (1 references)
    pkts      bytes target     prot opt in     out     source               destination
     412    51234 RETURN     all  --  *      *       0.0.0.0/0            172.30.0.0/24
       3      180 DROP       all  --  *      *       0.0.0.0/0            0.0.0.0/0
"""


def test_dropped_packets_counts_only_the_drop_rule() -> None:
    assert egress.dropped_packets(LISTING) == 3


def test_a_fresh_chain_has_dropped_nothing() -> None:
    assert egress.dropped_packets(LISTING.replace("       3      180 DROP", "0 0 DROP")) == 0


def test_the_fence_jumps_from_forward_for_its_bridge() -> None:
    fence = egress.Fence(bridge="br-test", internal=("172.30.0.0/24", "10.244.0.0/16"))
    assert fence.jump() == ["FORWARD", "-i", "br-test", "-j", egress.CHAIN]
