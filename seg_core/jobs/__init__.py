"""Background OS processes: one launcher (detached, home pinned, exit record), liveness and
pid-reuse checks, signalling a process group."""
