"""Output: language-aware encoders, the one Jinja environment, artifacts and the writer."""
