"""The IVR menu tree (pure: no I/O)."""
