"""Running polar-orders-mcp as several replicas: the compose recipe, and the same topology as local processes."""
