"""FastAPI serving: the app factory, the hot-reloading model store, routes, metrics and webhooks.

Importing this package is cheap on purpose: MLflow and scikit-learn are imported by the model
store's background thread, so the port opens (and `/health` answers 503) within a second or two
even though those imports take several seconds on a small machine.
"""
