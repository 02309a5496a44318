"""two_stage: candidates from several recipes reranked by a learned ranker."""
