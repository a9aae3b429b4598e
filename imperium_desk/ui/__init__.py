"""The desk window (the only package that imports Qt). Widgets talk to the engine only through `Desk` and the
`DeskBridge` signals."""
