"""Qt widgets. Only this package imports Qt."""
