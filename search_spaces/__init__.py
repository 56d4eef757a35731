"""search spaces."""
