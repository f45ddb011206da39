"""The REST API (CONTRACT §6), as Litestar controllers."""
