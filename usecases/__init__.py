"""What users ask of a trained model, shared by the CLI and the HTTP routers: recommend a split, score scenarios,
score patient risk.

Pure functions over a loaded bundle; reading files, MLflow and HTTP stay at the edges that call them.
"""
