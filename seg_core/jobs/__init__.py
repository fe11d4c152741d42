"""Background OS processes: liveness and pid-reuse checks, signalling a process group."""
