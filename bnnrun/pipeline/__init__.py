"""The pipeline: build a model from a config (:mod:`~bnnrun.pipeline.build`), run it start to
finish into a run directory (:mod:`~bnnrun.pipeline.execute`), and load a finished run back
(:mod:`~bnnrun.pipeline.reload`)."""
