"""Market data: the port the engine reads, and the seeded simulated option chain behind it."""
