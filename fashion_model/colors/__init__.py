"""Measured colour: the product's dominant colours, named, from its photo."""
