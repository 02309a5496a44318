"""user_personalization_v2: a causal self-attention user model (Personalize's User-Personalization-v2)."""
