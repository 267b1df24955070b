"""Statistics: bootstrap confidence intervals and paired significance tests over sufficient statistics."""
