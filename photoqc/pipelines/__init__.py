"""Orchestration in three rooms: :mod:`~photoqc.pipelines.batch` (many images through the
per-image core, resumably), :mod:`~photoqc.pipelines.training` (labels to a model) and
:mod:`~photoqc.pipelines.review` (tuning, report, explanation, demo).

Pipelines never compute pixels themselves; they call :mod:`photoqc.assess` and run it on
an engine (:mod:`photoqc.engines`).
"""
