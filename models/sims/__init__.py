"""sims: item-to-item similarity from co-occurrence in user histories."""
