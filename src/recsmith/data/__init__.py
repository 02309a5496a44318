"""recsmith.data"""
