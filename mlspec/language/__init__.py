"""The language: bytes → Document (loader) → Spec (validate, models, types) → rules."""
