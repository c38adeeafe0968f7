"""Batch execution: what to process (inputs), the one resumable runner, the files it
writes (outputs), and the two jobs it runs (features, scores)."""
