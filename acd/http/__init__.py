"""HTTP adapter (aiohttp): thin handlers over the services."""
