"""personalized_ranking: re-rank a given item list for a user with a trained user model."""
