"""Analysis of a posterior: its predictive, metrics, uncertainty, ArviZ export and figures. Pure
functions of arrays; the pipeline writes what they return."""
