"""The package version, in a module of its own so that modules need not import the package for it."""
__version__ = "0.1.0"  # keep equal to pyproject.toml (tests/test_imports.py checks)
