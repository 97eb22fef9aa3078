"""ARES stages: one concern per module, each with a pydantic contract (schemas.py)."""
