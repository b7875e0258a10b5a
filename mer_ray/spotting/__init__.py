"""Micro- and macro-expression spotting in long videos (MEGC protocol).

``intervals``: IoU, one-to-one matching, pooled TP / FP / FN and P / R / F1 per kind, spot-then-recognise (STRS).
``scores``: per-frame motion scores from frames (alignment once per chunk, fast optical flow k frames apart).
``baseline``: the MEGC baseline spotter (relative threshold, peaks -> intervals).
``evaluate``: leave-one-subject-out threshold choice and scoring of the baseline on a dataset.
``data``: the long videos (or the demo in the cache), per-video motion summaries, unreadable videos as skips.
``learned``: the learned spotter (per-frame classifier, inner-LOSO settings); ``features``: its per-region,
direction, return-to-neutral, head-motion and deformation features. ``methods``: ``SPOTTERS``, one fold
function per ``--search`` name. ``tune`` / ``run`` / ``report``: ``python -m mer_ray.spot`` (Ray Tune trials per
held-out subject, the run folder and resume, report.md, intervals.csv, timeline PNGs).
"""
