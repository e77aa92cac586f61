"""What carealloc remembers between quarters: the KPI history (and, next, the plans it issued), in a SQL database."""
