"""PTR policy node: observation in, action out, hot-swappable weights."""
