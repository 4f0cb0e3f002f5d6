"""The model management service: model registry (models, versions, artifacts, aliases) and deployments."""
