"""recsmith.api"""
