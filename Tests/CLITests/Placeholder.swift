// Tests for CLI: filled in by the commits that follow.
