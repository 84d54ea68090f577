"""FTTH plant: OLTs, ONUs, splitters, fibre cables. Its database rules live in ``sql/`` (docs/architecture.md)."""
