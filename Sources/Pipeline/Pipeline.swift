// Module Pipeline: filled in by the commits that follow.
