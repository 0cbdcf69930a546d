"""Robot side of online fine-tuning: the loop that records, stores and announces episodes."""
