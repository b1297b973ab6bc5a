"""Inference: SVI (a compiled, checkpointed program over steps or epochs, with NumPyro's
autoguides) and NUTS. Each takes a model, its data and its ``hp``, and returns a posterior."""
