"""Production monitoring: the prediction log, feedback (true labels) and live accuracy.

Serving hands each answered prediction to `PredictionLog`, which writes it off the request path;
`feedback` stores true labels against logged predictions and computes live accuracy from them.
Nothing here imports FastAPI: the HTTP side lives in `serving`.
"""
