"""The team server's rules: roles, per-person limits and the append-only audit trail."""
