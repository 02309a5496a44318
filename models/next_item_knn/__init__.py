"""next_item_knn: sequential item-kNN from directed transitions in time-ordered histories."""
