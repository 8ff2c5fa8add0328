"""Guidance methods, one file per registry key (``best_of_n.py`` is ``best-of-n``).

ALIASES maps short names used on the command line to registry keys.
"""
ALIASES = {
    "treeg": "treeg-sc",
}
