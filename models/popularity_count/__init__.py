"""popularity_count: Personalize's Popularity-Count baseline."""
