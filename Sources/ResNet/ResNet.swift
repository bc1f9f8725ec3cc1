// Module ResNet: filled in by the commits that follow.
