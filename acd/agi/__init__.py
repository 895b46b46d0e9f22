"""FastAGI adapter: a route table of small async handlers."""
