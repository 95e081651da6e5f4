"""Use cases: pure functions of (input, ports)."""
