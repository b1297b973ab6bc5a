"""The three commands: ``bnnrun`` (:mod:`~bnnrun.cli.main`), ``bnnrun-compare`` and
``bnnrun-report``. Only this package turns errors into exit codes and lines on stderr."""
