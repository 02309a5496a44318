"""deepfm: factorization machine plus deep network over user, item and context features."""
