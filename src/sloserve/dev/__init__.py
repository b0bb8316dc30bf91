"""sloserve.dev."""
