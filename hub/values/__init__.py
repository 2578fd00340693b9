"""Live values: the newest value per (agent, tag), kept current by ingest."""
