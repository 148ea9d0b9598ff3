"""evidence.api"""
