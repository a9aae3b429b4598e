"""Scenario specs and the runner that places a scenario's orders on the clock."""
