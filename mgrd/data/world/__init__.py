"""The synthetic world: perception-grounded audio questions with verifiable acoustic facts."""

from mgrd.data.world.families import FAMILIES, kinds, make_draft, make_record
from mgrd.data.world.generate import SPLITS, WorldConfig, generate_split, item_seed

__all__ = ["FAMILIES", "SPLITS", "WorldConfig", "generate_split", "item_seed", "kinds", "make_draft", "make_record"]
