"""The kind network's fence: the host drops every packet that a container on that network sends
to an address off it (anything that would leave the machine), and counts them, so a test can
fail when anything tried. Traffic among the network's containers (their addresses, and the pod
addresses inside them: with bridge netfiltering, pod traffic between nodes crosses the host's
FORWARD chain too), and from them to this host itself (the network's gateway address), is left
alone."""

from __future__ import annotations

import dataclasses
import subprocess

CHAIN = "SLOSERVE-KIND-EGRESS"


@dataclasses.dataclass(frozen=True)
class Fence:
    """The rules for one Docker bridge network: `bridge` is its interface; `internal` are the
    ranges that live inside its containers (the network's own, the pods')."""

    bridge: str
    internal: tuple[str, ...]

    def jump(self) -> list[str]:
        return ["FORWARD", "-i", self.bridge, "-j", CHAIN]

    def install(self) -> None:
        """Adds the chain (fresh counters) and the jump at the top of FORWARD, before Docker's
        own rules, for IPv4; IPv6 from the bridge is dropped outright. Idempotent."""
        self.remove()
        _iptables("-N", CHAIN)
        for internal in self.internal:
            _iptables("-A", CHAIN, "-d", internal, "-j", "RETURN")
        _iptables("-A", CHAIN, "-j", "DROP")
        _iptables("-I", self.jump()[0], "1", *self.jump()[1:])
        _iptables("-N", CHAIN, v6=True)
        _iptables("-A", CHAIN, "-j", "DROP", v6=True)
        _iptables("-I", "FORWARD", "1", "-i", self.bridge, "-j", CHAIN, v6=True)

    def remove(self) -> None:
        """Deletes the jump and the chain, where present."""
        for v6 in (False, True):
            while _iptables("-D", *self.jump(), v6=v6, check=False):
                pass
            _iptables("-F", CHAIN, v6=v6, check=False)
            _iptables("-X", CHAIN, v6=v6, check=False)

    def installed(self) -> bool:
        return _iptables("-C", *self.jump(), check=False)

    def dropped(self) -> int:
        """Packets dropped so far (IPv4 and IPv6): each one tried to leave the machine."""
        return sum(dropped_packets(_listing(v6)) for v6 in (False, True))


def dropped_packets(listing: str) -> int:
    """The packet counts of the DROP rules in `iptables -L CHAIN -v -x -n` output."""
    total = 0
    for line in listing.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0].isdigit() and words[2] == "DROP":
            total += int(words[0])
    return total


def _listing(v6: bool) -> str:
    tool = "ip6tables" if v6 else "iptables"
    completed = subprocess.run(
        [tool, "-w", "-L", CHAIN, "-v", "-x", "-n"], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{tool}: chain {CHAIN} is not installed: {completed.stderr.strip()}")
    return completed.stdout


def _iptables(*args: str, v6: bool = False, check: bool = True) -> bool:
    tool = "ip6tables" if v6 else "iptables"
    completed = subprocess.run([tool, "-w", *args], capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)}: {completed.stderr.strip()}")
    return completed.returncode == 0
