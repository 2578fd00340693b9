"""Playbooks: YAML rules that turn an alarm occurrence into governed, time-bounded work."""
