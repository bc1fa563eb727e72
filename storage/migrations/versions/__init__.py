"""One script per revision of our tables: ``1`` is the first release's (see storage/migrations)."""
