"""`python -m sentiment_mlops` runs the console script."""

from sentiment_mlops.cli import main

main()
