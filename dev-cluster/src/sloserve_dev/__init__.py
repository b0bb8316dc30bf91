"""The local cluster for development, the test suites and the demo: a kind cluster built
offline, and a bare control plane for integration tests. Not part of the product wheel."""
