"""The plan model, the diff and the pure planner."""
