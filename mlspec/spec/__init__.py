"""The v1 language: constrained types and pydantic models."""
