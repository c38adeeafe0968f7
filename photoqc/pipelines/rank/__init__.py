"""Choosing each listing's cover photo: ``photoqc rank``."""
