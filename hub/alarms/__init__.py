"""Alarm occurrences derived from the agents' alarm events (ISA-18.2 states grow here later)."""
