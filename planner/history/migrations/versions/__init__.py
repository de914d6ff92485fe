"""One module per schema revision: 0001 (runs), 0002 (decisions, transfers, run outcome)."""
