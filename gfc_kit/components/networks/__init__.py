"""Built-in networks: the GFC generator, its local and global discriminators, and face parsers."""
