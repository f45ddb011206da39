"""The per-cluster agent (`kjs agent`)."""
