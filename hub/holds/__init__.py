"""Quality holds on lots, and their releases; the agents of each line get their hold list."""
