"""Annotations: coding sheets, frame folders, Sample records, dataset adapters and protocols (no pixels)."""
