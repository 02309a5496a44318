"""recsmith.campaigns"""
