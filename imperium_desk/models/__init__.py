"""Latency and slippage distributions, their configs, and the per-asset resolver."""
