"""andi2kit."""
