"""What the issue specifies for the training flow, shared by the flow and stack tests."""

FLOW_NAME = "sentiment-training"
TASK_NAMES = frozenset(
    {
        "load-data",
        "split-data",
        "train-model",
        "evaluate-model",
        "log-mlflow",
        "register-model",
        "set-champion-alias",
    }
)
