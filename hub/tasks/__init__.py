"""Tasks: work for a role or a person with a due time, opened by playbook runs."""
