"""Append-only, hash-chained audit: services record every governed change in the same commit."""
