"""The ML core: data loading, cleaning, the pipeline and its evaluation.

Pure scikit-learn and pandas. Nothing here imports MLflow, Prefect, FastAPI or the settings:
every value arrives as an argument, so the core is the same in training, serving and tests.
"""
