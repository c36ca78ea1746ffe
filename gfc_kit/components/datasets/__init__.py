"""Built-in datasets (kind ``dataset``): items are dicts per the tensor contract."""
