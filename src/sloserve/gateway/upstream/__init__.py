"""The gateway's side of the engines' HTTP API: sending generation requests and reading their
answers."""
