"""Alembic migrations of the conversation store, shipped inside the package."""
