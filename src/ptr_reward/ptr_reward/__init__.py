"""Success-classifier reward: training CLI and node."""
