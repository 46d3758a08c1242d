"""The HTTP API (`/v1`): FastAPI routes over the services."""
