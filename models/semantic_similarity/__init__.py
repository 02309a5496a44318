"""semantic_similarity: related items from the text of item fields (Personalize's Semantic-Similarity)."""
