"""bnnrun: a command-line experiment runner for Bayesian neural networks (Hydra + NumPyro)."""

__version__ = "0.1.0"
