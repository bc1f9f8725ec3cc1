// Module ImageDecoding: filled in by the commits that follow.
