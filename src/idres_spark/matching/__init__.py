"""Matching phase: blocking, rule scoring and the identity-resolution transformations."""
