"""guidebench: a benchmark for inference-time guidance of diffusion models."""

__version__ = "0.1.0"
