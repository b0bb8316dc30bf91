"""Nothing on the local cluster's network tried to leave the machine during the suite: the host
drops (and counts) every packet from the kind network to an address off it. This module runs
last (see conftest), so it covers every test before it, the cluster's start included."""

from __future__ import annotations

import pytest

from e2e import providers


def test_nothing_on_the_kind_network_tried_to_leave_the_machine(
    provider: providers.Provider,
) -> None:
    if provider.fence is None:
        pytest.skip("an external cluster: its egress is not this machine's to watch")
    assert provider.fence.installed(), "the kind network's egress fence is not in place"
    dropped = provider.fence.dropped()
    assert dropped == 0, (
        f"{dropped} packet(s) from the kind network were headed off the machine and dropped; "
        f"see `iptables -L {provider.fence.jump()[-1]} -v -n` and the pods' logs"
    )
