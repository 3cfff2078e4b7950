"""Client-side storage probes: does a datastore's credential actually work?"""
