"""evidence.verify"""
