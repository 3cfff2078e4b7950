"""Manifests written out: converted from az ml datastore files, or exported (YAML text with escaped comments)."""
