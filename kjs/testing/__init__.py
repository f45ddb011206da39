"""The real test environment: Go-built servers, the test kubelet, the pytest plugin."""
