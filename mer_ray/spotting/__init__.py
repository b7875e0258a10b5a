"""Micro- and macro-expression spotting in long videos (MEGC protocol).

``intervals``: IoU, one-to-one matching, pooled TP / FP / FN and P / R / F1 per kind, spot-then-recognise (STRS).
``scores``: per-frame motion scores from frames (alignment once per chunk, fast optical flow k frames apart).
``baseline``: the MEGC baseline spotter (relative threshold, peaks -> intervals).
``evaluate``: leave-one-subject-out threshold choice and scoring of the baseline on a dataset.
"""
