"""A fake Kite Connect (REST and ticker websocket) for tests: packet encoder first, the server beside it."""
