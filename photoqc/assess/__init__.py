"""The per-image core: a recipe (:mod:`~photoqc.assess.recipe`), the feature extractor
built from it (:mod:`~photoqc.assess.extractor`), and the scorer around a model
(:mod:`~photoqc.assess.scorer`).

Fed a path, bytes, or an already decoded :class:`photoqc.images.LoadedImage`
(:mod:`~photoqc.assess.items`), it returns the feature row (and verdict, reasons) together
with what it computed on the way (the object mask, the analysis-scale image). Batch runs,
the HTTP service, the report and every engine call this and nothing below it.
"""
