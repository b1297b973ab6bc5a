"""Experiment trackers (``logger=mlflow``, ``logger=tensorboard``) as Hydra callbacks.

A tracker never runs inside a run: ``conf/logger/<option>.yaml`` adds its callback to
``hydra.callbacks``, and when a job ends the callback reads what the run wrote in its directory
(``metrics.json``, ``elbo.csv``, the figures, ``.hydra/``) and logs it. So the run code knows
nothing of trackers, and a job logs the same whichever launcher ran it, in whichever process.
Each tracker's package is an extra (``pip install 'bnnrun[mlflow]'``), imported only when a
tracker logs.
"""
