// Tests for ImageDecoding: filled in by the commits that follow.
