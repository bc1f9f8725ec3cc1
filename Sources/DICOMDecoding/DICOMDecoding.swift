// Module DICOMDecoding: filled in by the commits that follow.
