"""Storage: SQL metadata (SQLAlchemy Core, SQLite or PostgreSQL) and blobs (obstore)."""
