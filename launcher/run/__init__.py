"""One job's record and outputs: the wrapper that writes results.json, the recording, the .hydra files."""
