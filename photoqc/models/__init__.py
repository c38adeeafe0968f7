"""Trained models: NIMA, the good/bad classifier, explanations and model bundles."""
