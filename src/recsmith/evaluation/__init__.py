"""Offline evaluation: reproducible splits, Personalize's metrics, and scoring of fitted recipes."""
