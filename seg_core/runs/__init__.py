"""Operations: the SQLite run registry, training processes (launch, stop, liveness) and the reporter a run writes through."""
