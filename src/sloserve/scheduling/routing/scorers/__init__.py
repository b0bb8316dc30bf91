"""Routing scorers: each gives every candidate engine a score in [0, 1], higher better (see
`routing.contract.Scorer`). One module per scorer."""
