"""Post-trade analysis: TCA, fees, distribution fits and outliers over telemetry files."""
