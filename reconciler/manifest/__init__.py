"""Manifest files: YAML with positions, pydantic models, secret references."""
