"""item_affinity and item_attribute_affinity: user segments (Personalize's USER_SEGMENTATION recipes)."""
