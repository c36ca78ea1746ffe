"""Built-in components, one family per module; each module registers itself via ``gfc_register``."""
