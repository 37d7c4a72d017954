"""Datasets and image handling.

Modules: ``images`` (read_rgb), ``labels`` (label files), ``base`` (MultiLabelDataset),
``ucm`` / ``dlrsd`` / ``whdld`` (datasets), ``registry`` (load_dataset, DATASETS),
``splits`` + ``stratify`` (train/val/test), ``cache`` (load_image_array),
``transforms`` (normalisation, dihedral augmentation), ``check`` (``mlrsir data check``).
Import from the submodules; this package imports nothing heavy on purpose.
"""
