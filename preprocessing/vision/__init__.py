"""Per-clip vision: dlib alignment, masks, apex spotting, TV-L1 flow, and the clip processor that chains them."""
