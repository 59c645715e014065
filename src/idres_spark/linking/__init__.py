"""Linking phase: connected components and the group limits."""
