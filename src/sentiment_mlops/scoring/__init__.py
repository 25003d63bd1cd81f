"""Batch scoring: a file of reviews in, the same rows with a sentiment out (`sentiment score`).

Two engines share one prediction rule (`core.scores.score_texts`, over `core.labels`): `local`
streams the file through pyarrow in bounded memory, `spark` runs the same function on Apache
Spark's executors as the version's pyfunc flavour (`mlflow.pyfunc.spark_udf`).
`run.run_scoring` checks the request, resolves the model once and runs an engine; the CLI and
the Prefect flow `sentiment-scoring` both call it.
"""
