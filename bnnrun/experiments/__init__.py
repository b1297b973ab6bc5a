"""Experiments that need more than one config: each plugs into Hydra through its own callback,
which also carries the checks a run of it needs before it starts (see
:mod:`bnnrun.cli.precheck`)."""
