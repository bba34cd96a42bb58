"""Pure computation package (no Django)."""
