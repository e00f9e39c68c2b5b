"""The heavy numerics as plain functions on tensors, chunked so no ``N × N`` tensor is built.

Every function accepts NumPy arrays or torch tensors (CPU or CUDA) with samples in rows, and
runs where its input lives. Row blocks follow ``ALKIT_BLOCK_BYTES`` and halve on out-of-memory
(:mod:`alkit.kernels.blocks`). The greedy k-center step also has a fused Triton kernel
(:mod:`alkit.kernels.triton_kcenter`, ``backend="triton"``), checked against the torch path
under the Triton interpreter; it is not the default until GPU timings show it faster.
Seed 004 (ASAL) adds latent entropy ascent (:mod:`~alkit.kernels.latent`), exact and streamed
PCA (:mod:`~alkit.kernels.pca`) and a nearest-neighbour index that matches without replacement
(:mod:`~alkit.kernels.nn_index`).
"""

from alkit.kernels.badge import badge_embedding, badge_pairwise_sqdist, badge_q, badge_seeding
from alkit.kernels.blocks import default_block_rows, map_row_blocks
from alkit.kernels.distances import min_sqdist, pairwise_cosine, pairwise_sqeuclidean, sq_norms
from alkit.kernels.kcenter import kcenter_greedy
from alkit.kernels.kmeans import d2_seeding, kmeans, kmeans_pp_seeding, nearest_to_centres
from alkit.kernels.knn import knn
from alkit.kernels.latent import ascend_entropy
from alkit.kernels.nn_index import NearestIndex
from alkit.kernels.pca import PCA, fit_pca, fit_pca_streamed, project_streamed

__all__ = [
    "PCA",
    "NearestIndex",
    "ascend_entropy",
    "fit_pca",
    "fit_pca_streamed",
    "project_streamed",
    "badge_embedding",
    "badge_pairwise_sqdist",
    "badge_q",
    "badge_seeding",
    "d2_seeding",
    "default_block_rows",
    "kcenter_greedy",
    "kmeans",
    "kmeans_pp_seeding",
    "knn",
    "map_row_blocks",
    "min_sqdist",
    "nearest_to_centres",
    "pairwise_cosine",
    "pairwise_sqeuclidean",
    "sq_norms",
]
