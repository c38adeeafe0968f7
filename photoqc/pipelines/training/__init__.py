"""Training: labels, degraded copies, the feature cache, the classifier's training and
cross-validation, and NIMA's import and fine-tuning."""
