"""Orchestration: run the one-image flow over many images and write tables.

Pipelines never compute pixels themselves; they call :mod:`photoqc.images`,
:mod:`photoqc.segmentation` and :mod:`photoqc.features`.
"""
