"""Kite Connect integration tests: the real official client, and our adapter, against the loopback fake Kite."""
