"""Field and wire I/O: protocol adapters, the agent<->hub schema, the simulated plant.

No business rules here: this package turns bytes on a wire into typed readings and events.
"""
