"""The launchers: running a sweep's jobs one after the other, N at a time on this machine, or on Slurm."""
