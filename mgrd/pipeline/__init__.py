"""The MGRD pipeline (layer L5): recipes, stages composed from the trainers, evaluation inside the run, reports."""

from mgrd.pipeline.recipe import Recipe, load_recipe

__all__ = ["Recipe", "load_recipe", "run_pipeline"]


def run_pipeline(*args, **kwargs):
    """See mgrd.pipeline.pipeline.run_pipeline (imported lazily: it pulls in torch and the trainers)."""
    from mgrd.pipeline.pipeline import run_pipeline as run

    return run(*args, **kwargs)
