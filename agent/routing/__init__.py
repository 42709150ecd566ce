"""Smart order routing: pick venues by all-in cost (price, fees, gas; bridges later)."""
