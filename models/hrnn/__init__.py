"""hrnn: hierarchical GRU over sessions (a session GRU started from a user GRU over past sessions)."""
