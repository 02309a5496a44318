"""recsmith.events"""
