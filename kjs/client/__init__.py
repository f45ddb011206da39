"""The Python SDK for the kjs API (`Client`, `AsyncClient`)."""
