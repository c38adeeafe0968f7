"""Looking at results: threshold tuning (and its plots), the moderator report, the
one-photo explanation, and the offline demo that shows the whole loop."""
