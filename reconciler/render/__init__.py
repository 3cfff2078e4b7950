"""Renderers: pure functions from a plan (or a snapshot) to text, JSON and markdown."""
