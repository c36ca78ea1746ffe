"""An example gfc-kit plugin: a ring-shaped mask sampler and a procedural pattern dataset."""

__version__ = "0.1.0"
