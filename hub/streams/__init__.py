"""Live streams (SSE) of changes, fed after each commit by the services that make them."""
