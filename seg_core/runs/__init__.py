"""Operations: the SQLite run registry, starting and stopping a run's training process, and the reporter a run writes through."""
