"""Study instruments run as `python -m study.scripts.NAME` from the repository root."""
