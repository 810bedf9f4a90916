"""Rendering: figures, tables and report cards drawn from reports and study frames. Nothing here
computes a number; this is the only package that imports matplotlib or seaborn."""
