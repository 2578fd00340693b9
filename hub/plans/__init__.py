"""Production plans per line (JSON or CSV uploads), and the plan each agent caches."""
