"""Helpers shared by several test folders (real servers started as processes)."""
