"""The end-to-end suite: the Helm chart installed on a real cluster, driven as users drive it."""
