"""bnnrun's Slurm launcher (``hydra/launcher=slurm``), found by Hydra's plugin scan."""
