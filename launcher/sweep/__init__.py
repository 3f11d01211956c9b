"""The sweep: expanding, validating, planning, naming and recording a sweep's jobs (grid and fitting sweepers)."""
