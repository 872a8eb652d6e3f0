"""Deep learning with torch: one training loop, networks for tables, images and sequences, and
scikit-learn estimators over them (the optional ``deep`` extra: ``pip install 'aiforge[deep]'``); text
transformers and seq2seq generation from local Hugging Face checkpoints (the ``transformers`` extra).

Names are imported on first use: importing this package loads neither torch nor scikit-learn.
"""

from __future__ import annotations

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "CNNClassifier": "_estimators",
    "CNNRegressor": "_estimators",
    "MLPClassifier": "_estimators",
    "MLPRegressor": "_estimators",
    "RNNClassifier": "_estimators",
    "RNNRegressor": "_estimators",
    "TransferClassifier": "_transfer",
    "TextClassifier": "_text",
    "TextRegressor": "_text",
    "Seq2SeqGenerator": "_seq2seq",
    "TransferRegressor": "_transfer",
    "Augmentation": "_augment",
    "augment_images": "_augment",
    "CompressionConfig": "_compress",
    "CompressionRecord": "_compress",
    "compress": "_compress",
    "export_onnx": "_export",
    "EpochRecord": "_loop",
    "TrainConfig": "_loop",
    "TrainingHistory": "_loop",
    "train": "_loop",
    "FASHION_MNIST_CLASSES": "_datasets",
    "ImageSplit": "_datasets",
    "load_fashion_mnist": "_datasets",
    "read_idx": "_datasets",
    "INSTALL_HINT": "_runtime",
    "choose_device": "_runtime",
    "choose_precision": "_runtime",
    "require_torch": "_runtime",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
