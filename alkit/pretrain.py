"""Rotation pretraining moved to :mod:`alkit.artifacts.rotation` (artifact ``rotation``); this
module keeps the old import path working."""

from alkit.artifacts.rotation import PretrainReport, rotate_four_ways, rotation_pretrain

__all__ = ["PretrainReport", "rotate_four_ways", "rotation_pretrain"]
