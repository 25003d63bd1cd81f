"""The ceiling for `/predict`: FastAPI parsing the same JSON body and returning a small JSON.

Baseline of `bench/limits.py` (`bench/serve.py --limits`); no model, no middleware.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Review(BaseModel):
    text: str


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@app.post("/predict")
async def predict(review: Review) -> dict[str, object]:
    return {"sentiment": "positive", "confidence": 0.5, "chars": len(review.text)}
