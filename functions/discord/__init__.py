"""Discord interactions: signature check, router, one module per feature."""
