"""Date formats of our own, where Django's locale defaults do not suit (FORMAT_MODULE_PATH)."""
