"""The heavy numerics as plain functions on tensors, chunked so no ``N × N`` tensor is built.

Every function accepts NumPy arrays or torch tensors (CPU or CUDA) with samples in rows, and
runs where its input lives. NTK look-ahead (:mod:`alkit.kernels.ntk`,
:mod:`alkit.kernels.ntk_lookahead`) and clustering pseudo-labels (:mod:`alkit.kernels.cpl`)
serve seed 002. Row blocks follow ``ALKIT_BLOCK_BYTES`` and halve on out-of-memory
(:mod:`alkit.kernels.blocks`). The greedy k-center step also has a fused Triton kernel
(:mod:`alkit.kernels.triton_kcenter`, ``backend="triton"``), checked against the torch path
under the Triton interpreter; it is not the default until GPU timings show it faster.
Optimal transport (exact EMD, batched log-domain Sinkhorn/IPOT) is in :mod:`alkit.kernels.ot`,
greedy Wasserstein prototypes in :mod:`alkit.kernels.prototypes`.
Seed 004 (ASAL) adds latent entropy ascent (:mod:`~alkit.kernels.latent`), exact and streamed
PCA (:mod:`~alkit.kernels.pca`) and a nearest-neighbour index that matches without replacement
(:mod:`~alkit.kernels.nn_index`).
"""

from alkit.kernels.badge import badge_embedding, badge_pairwise_sqdist, badge_q, badge_seeding
from alkit.kernels.blocks import default_block_rows, map_row_blocks
from alkit.kernels.cpl import constrained_kmeans, cpl_generation, split_confusing
from alkit.kernels.distances import min_sqdist, pairwise_cosine, pairwise_sqeuclidean, sq_norms
from alkit.kernels.kcenter import kcenter_greedy
from alkit.kernels.kmeans import d2_seeding, kmeans, kmeans_pp_seeding, nearest_to_centres
from alkit.kernels.knn import knn
from alkit.kernels.latent import ascend_entropy
from alkit.kernels.nn_index import NearestIndex
from alkit.kernels.ntk import empirical_ntk, mlp_pntk
from alkit.kernels.ntk_lookahead import greedy_ntk_select, lookahead_risk, ntk_posterior
from alkit.kernels.ot import emd2_many, ground_cost, ipot_log, sinkhorn_log, transport_costs
from alkit.kernels.pca import PCA, fit_pca, fit_pca_streamed, project_streamed
from alkit.kernels.prototypes import greedy_wasserstein_prototypes

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
    "constrained_kmeans",
    "cpl_generation",
    "d2_seeding",
    "emd2_many",
    "greedy_wasserstein_prototypes",
    "ground_cost",
    "ipot_log",
    "default_block_rows",
    "empirical_ntk",
    "greedy_ntk_select",
    "kcenter_greedy",
    "kmeans",
    "kmeans_pp_seeding",
    "knn",
    "lookahead_risk",
    "map_row_blocks",
    "min_sqdist",
    "mlp_pntk",
    "nearest_to_centres",
    "ntk_posterior",
    "pairwise_cosine",
    "pairwise_sqeuclidean",
    "split_confusing",
    "sinkhorn_log",
    "sq_norms",
    "transport_costs",
]
