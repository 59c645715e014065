"""Profiles phase: profile ids, survivorship, record map, merge log and events."""
