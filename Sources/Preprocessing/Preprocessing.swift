// Module Preprocessing: filled in by the commits that follow.
