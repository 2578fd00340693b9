"""What tasks and approvals share: the run engine, SLA timers, delegations, snapshots, actions."""
