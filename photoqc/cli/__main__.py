"""``python -m photoqc.cli``: the command line, as the ``photoqc`` script runs it."""

from photoqc.cli import app

app()
