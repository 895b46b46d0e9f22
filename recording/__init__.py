"""Call recording policy and storage (pure policy lives here; MixMonitor is driven by acd)."""
