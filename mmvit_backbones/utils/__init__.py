"""Helpers of the package outside the models: configs, frameworks and
complexity."""
