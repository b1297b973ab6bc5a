"""The three commands: ``bnnrun`` (:mod:`~bnnrun.cli.main`), ``bnnrun-compare`` and
``bnnrun-report``: each turns a user's error into one line on stderr and an exit code
(:class:`bnnrun.errors.ExitCode`)."""
