"""Kubeflow Pipelines v2 face of recsmith: one component per workflow stage, and the pipeline composing them."""
