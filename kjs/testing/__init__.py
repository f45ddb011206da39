"""The real test environment: Go-built servers, process management, the test kubelet, pytest plugin."""
