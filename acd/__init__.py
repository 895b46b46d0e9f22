"""acd: an asyncio call-centre (ACD/CTI) engine driving a real Asterisk PBX."""

__version__ = "0.1.0"
