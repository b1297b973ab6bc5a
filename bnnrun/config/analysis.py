"""Schema of the ``analysis`` node: what is computed from the posterior predictive."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bnnrun.config.checks import require


class FigureFormat(StrEnum):
    """File formats of a run's and a sweep's figures (matplotlib's writers)."""

    png = "png"
    pdf = "pdf"
    svg = "svg"


@dataclass
class AnalysisConfig:
    """What is computed from the posterior predictive after the fit.

    Attributes:
        grid_size: Points per side of the grid of the predictive maps (2-D inputs only).
        data_chunk: Inputs per predictive chunk (bounds memory).
        sample_chunk: Posterior draws evaluated together; null: 1 for a CNN on CPU, else 64.
        max_chunk_mb: The activations of one predictive chunk stay below this many MiB
            (chunks shrink to fit).
        num_images: Images per figure of confident mistakes and of the most uncertain test
            images.
        figure_format: File format of every figure a run or a sweep writes: ``png``, or the
            vector formats ``pdf`` and ``svg`` (for a paper); files are named ``<figure>.<format>``.
        dpi: Resolution of the figures in dots per inch: of a PNG, and of the rasterised parts
            (the maps) of a PDF or SVG.
        log_likelihood: Write each draw's log density of each training point into
            ``posterior.nc`` (its ``log_likelihood`` group), for PSIS-LOO (``az.loo``,
            ``bnnrun-compare --loo``). It costs one forward pass over the training set per
            draw and 8 bytes per draw and point (S=100 draws of 50,000 MNIST images: 40 MB),
            so the MNIST and Fashion-MNIST defaults turn it off.
    """

    grid_size: int = 100
    data_chunk: int = 4096
    sample_chunk: int | None = None
    max_chunk_mb: int = 512
    num_images: int = 12
    figure_format: FigureFormat = FigureFormat.png
    dpi: int = 150
    log_likelihood: bool = True

    def __post_init__(self) -> None:
        require(self.grid_size >= 2, "analysis.grid_size", "an integer >= 2", self.grid_size)
        require(self.data_chunk >= 1, "analysis.data_chunk", "an integer >= 1", self.data_chunk)
        if self.sample_chunk is not None:
            require(
                self.sample_chunk >= 1,
                "analysis.sample_chunk",
                "an integer >= 1 or null",
                self.sample_chunk,
            )
        require(
            self.max_chunk_mb >= 1, "analysis.max_chunk_mb", "an integer >= 1", self.max_chunk_mb
        )
        require(self.num_images >= 1, "analysis.num_images", "an integer >= 1", self.num_images)
        require(self.dpi >= 1, "analysis.dpi", "an integer >= 1", self.dpi)
