"""sev1bot's performance benchmark: ``python -m bench`` from the repository root (see docs/performance.md)."""
