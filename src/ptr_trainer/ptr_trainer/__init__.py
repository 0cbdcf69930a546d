"""Off-board trainer node: episodes in, CQL updates, signed weights out."""
