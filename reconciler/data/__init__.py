"""Data operations on a datastore's storage: ``reconciler data ls|upload|download``.

Nothing here is imported when the CLI starts; the ``data`` commands import it when they run.
"""
