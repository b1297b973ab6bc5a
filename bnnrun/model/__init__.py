"""The model: a network as a pure function of a parameter pytree (:mod:`~bnnrun.model.nets`), the
priors and hyperpriors over its parameters, and the NumPyro model that joins them to a
categorical likelihood (:class:`~bnnrun.model.bnn.BNN`)."""
