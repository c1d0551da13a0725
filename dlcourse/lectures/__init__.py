"""Reusable code of the two lecture notebooks in ``notebooks/``.

* ``notebooks/dropout.ipynb`` (暂退法): :func:`dropout_layer`, the :class:`Dropout` module and
  :class:`DropoutMLP` written from scratch, :func:`concise_mlp` with ``nn.Dropout``, the
  rescaling check :func:`dropout_means`, :func:`mc_dropout_predict`, the p sweep
  :func:`dropout_sweep`, and their figures.
* ``notebooks/numerical_stability.ipynb`` (数值稳定性和模型初始化): :func:`sigmoid_with_grad`,
  :func:`matrix_product_norms`, :func:`symmetry_demo`, :func:`deep_mlp`, :func:`init_network`,
  :func:`layer_variances`, :func:`variance_by_depth`, and their figures.
* ``python -m coursekit.authoring.lectures html`` (:mod:`coursekit.authoring.lectures`) executes both notebooks (at the ``cpu`` profile by
  default) and writes rendered HTML copies to ``build/lectures/`` (:func:`coursekit.authoring.lectures.render_html`).

The sizes (examples, epochs, widths ...) come from ``[profiles.NAME.lectures]`` in course.toml,
never from the notebooks. Randomness comes only from a ``torch.Generator`` passed in; nothing
here reseeds the global RNG. The one exception is ``nn.Dropout`` inside :func:`concise_mlp`,
which (like all of PyTorch's built-in layers) draws its masks from the global RNG that the
notebook seeds.
"""

from dlcourse.lectures.common import device_generator, show_source, table, take
from dlcourse.lectures.dropout import (Dropout, DropoutMeans, DropoutMLP, concise_mlp, dropout_layer, dropout_means,
                                        dropout_sweep, mc_dropout_predict, plot_dropout_means, plot_dropout_sweep)
from dlcourse.lectures.stability import (INIT_SCHEMES, LayerVariances, SymmetryResult, deep_mlp, init_network,
                                          layer_variances, matrix_product_norms, plot_matrix_products,
                                          plot_sigmoid_grad, plot_variance_by_depth, sigmoid_with_grad, spread,
                                          symmetry_demo, variance_by_depth)

__all__ = [
    "INIT_SCHEMES",
    "Dropout",
    "DropoutMLP",
    "DropoutMeans",
    "LayerVariances",
    "SymmetryResult",
    "concise_mlp",
    "deep_mlp",
    "device_generator",
    "dropout_layer",
    "dropout_means",
    "dropout_sweep",
    "init_network",
    "layer_variances",
    "matrix_product_norms",
    "mc_dropout_predict",
    "plot_dropout_means",
    "plot_dropout_sweep",
    "plot_matrix_products",
    "plot_sigmoid_grad",
    "plot_variance_by_depth",
    "show_source",
    "sigmoid_with_grad",
    "spread",
    "symmetry_demo",
    "table",
    "take",
    "variance_by_depth",
]
