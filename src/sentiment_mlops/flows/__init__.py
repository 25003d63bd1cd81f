"""Training as a sequence of steps: run by Prefect (`training`) or directly (`steps`)."""
