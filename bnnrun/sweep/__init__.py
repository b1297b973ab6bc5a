"""Sweeps: many runs from one command, aggregated into one table, plots and a report.

A sweep is Hydra's multirun. The ``bnnrun`` sweeper (``hydra_plugins/bnnrun_sweeper``) expands
interval sweeps into grids (:mod:`~bnnrun.sweep.grid`), leaves out impossible combinations and
skips jobs that already finished (:mod:`~bnnrun.sweep.resume`), and fits jobs that differ only
in numbers together (:mod:`bnnrun.pipeline.batch`). At the end of the multirun a
Hydra callback (:mod:`~bnnrun.sweep.callback`) reads every job's files from disk
(:mod:`~bnnrun.sweep.summary`), compares configurations over their replicates
(:mod:`~bnnrun.sweep.statistics`) and writes tables, figures (:mod:`~bnnrun.sweep.figures`) and
``report.html`` (:mod:`~bnnrun.sweep.report`) at the sweep's root
(:mod:`~bnnrun.sweep.aggregate`); ``bnnrun-report DIR`` does the same for an existing sweep.
"""
