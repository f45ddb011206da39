"""kjs — a multi-cluster Kubernetes Job scheduler."""
