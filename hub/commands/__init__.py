"""Hub -> agent commands: queued in the database, delivered on the agent's ingest replies."""
