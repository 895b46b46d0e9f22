"""The pure core: decisions from events and the current time, no I/O."""
