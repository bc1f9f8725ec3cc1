// Tests for Preprocessing: filled in by the commits that follow.
