"""trending_now: items whose interactions grow fastest (Personalize's Trending-Now)."""
