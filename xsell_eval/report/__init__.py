"""Report rendering: pure functions of a stored result (no clock, no printing)."""
