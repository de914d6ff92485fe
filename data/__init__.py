"""Embedded scenarios (the Tianchang county medical community and small examples)."""
