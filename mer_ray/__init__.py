"""mer-ray: training, honest LOSO evaluation and search of micro-expression models on Ray."""

__version__ = "0.1.0"
