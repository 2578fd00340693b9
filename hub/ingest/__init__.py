"""Events from agents: parse a batch, store it once per event_id, reply after the commit."""
