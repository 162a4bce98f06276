"""The audit log: append-only, hash-chained records of each answer, in their own encrypted store."""
