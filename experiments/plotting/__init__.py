"""Drawing the figures of ``img/``: one module per kind of figure, sharing :mod:`.figures`."""
