"""Floorgate: edge agents that read the floor and catch drift; a hub that governs the response."""

__version__ = "0.1.0"
