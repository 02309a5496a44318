"""recsmith.training"""
