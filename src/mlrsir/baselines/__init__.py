"""Baseline retrieval methods sharing the MLRSIR network: DHN, DCH (hashing, Hamming
ranking) and DQN, DTQ (product quantization, AQD ranking); see
:mod:`mlrsir.training.methods` for the registry."""
