"""The ModelService controller: thin kopf handlers that read the spec and the indexes, call the
builders, apply the result and write the status."""
