"""Routing filters: each drops the engines that cannot take the request now (see
`routing.contract.Filter`). One module per filter."""
