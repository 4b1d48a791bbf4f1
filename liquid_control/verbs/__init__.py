"""Command-line verbs, one group per module, each adding its parser to ``python -m liquid_control``."""
