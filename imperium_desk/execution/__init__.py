"""Execution: the router, algo planner, pre-trade cost estimate, retry policy, risk gate and stack."""
