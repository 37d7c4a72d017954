"""mlrsir: multi-label remote-sensing image retrieval by deep hashing (MLRSIR-NET)."""

__version__ = "0.1.0"
