"""lightning_nas: data-efficient neural architecture search as PyTorch Lightning parts."""

__version__ = "0.1.0"
