// Tests for DICOMDecoding: filled in by the commits that follow.
