"""SQL storage shared by the SQLite and MySQL store plugins."""
