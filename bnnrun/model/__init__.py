"""The model: a network as a pure function of a parameter pytree (:mod:`~bnnrun.model.nets`), the
priors and hyperpriors over its parameters, the likelihoods, and the NumPyro model that joins
them (:class:`~bnnrun.model.bnn.BNN`)."""
