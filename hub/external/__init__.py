"""What the systems around the floor send: recommendations (run through playbooks), inventory
positions and supplier commitments (data for decision snapshots, with their age)."""
