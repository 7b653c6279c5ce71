"""A tiny retrieval-augmented support assistant (standard library only)."""
