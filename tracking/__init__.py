"""The one home of MLflow I/O: experiment runs and their provenance (`runs`), the model registry with its alias
names and the bundle as a pyfunc model (`registry`).

Training writes through it, serving and the CLI read through it; nothing else imports mlflow.
"""
