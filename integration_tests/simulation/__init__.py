"""The randomized simulation suite: generated syncs against the sandbox (docs/reliability.md)."""
