"""`photoqc serve`: the real-time upload check over HTTP (see :mod:`photoqc.service.app`)."""
