"""``membrane bench``: membrane measured side by side with its baselines."""
