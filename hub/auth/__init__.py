"""Users, sessions and agent tokens: who may call the hub."""
