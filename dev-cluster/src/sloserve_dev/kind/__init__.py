"""The local kind cluster: built offline, fenced from the network, with simulated GPUs."""
