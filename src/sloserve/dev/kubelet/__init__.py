"""The local kubelet: registers simulated GPU nodes with a cluster and runs each pod bound to them
as local processes, mapping container images to commands of this Python installation."""
