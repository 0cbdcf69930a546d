"""Reset node: runs a reset policy (close the door) on request."""
