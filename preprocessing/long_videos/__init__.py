"""Long videos for micro-expression spotting: CAS(ME)^2 and SAMM Long Videos sheet readers, and a built-in demo.

``read_casme2_long`` / ``read_samm_long`` (``sheets.py``) read the coding sheets into videos and intervals (bad
rows become recorded skips); ``generate_long_demo`` (``demo.py``) writes a synthetic long-video dataset in the
CAS(ME)^2 layout with its exact ground truth.
"""
