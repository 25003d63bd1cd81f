"""`s3://` inputs and outputs, on a real S3 server (SeaweedFS) reached at AWS_ENDPOINT_URL with
the AWS_* keys, as the stack's `.stack/env` sets them."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from typer.testing import CliRunner

from sentiment_mlops.cli.main import app
from sentiment_mlops.settings import get_settings
from tests.scoring.helpers import store_environment
from tests.scoring.reviews import generated_reviews
from tests.serving.helpers import MlflowStore
from tests.support.seaweed import SeaweedS3

BUCKET = "scoring"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One S3 server for the module (each start and stop costs seconds)."""
    with SeaweedS3(tmp_path_factory.mktemp("s3"), buckets=[BUCKET]) as server:
        yield server


@pytest.fixture
def s3(s3_server: SeaweedS3, mlflow_store: MlflowStore, monkeypatch: pytest.MonkeyPatch):
    """The module's server with BUCKET empty, as a new server has it."""
    client = s3_server.client()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    with store_environment(mlflow_store, monkeypatch):
        yield client


@pytest.mark.slow  # an S3 server process: over a second of CPU
def test_scores_an_s3_object_into_another(s3) -> None:
    frame = generated_reviews(120, nulls=[4])
    s3.put_object(Bucket=BUCKET, Key="in/reviews.csv", Body=frame.to_csv(index=False).encode())
    arguments = ["score", "--input", f"s3://{BUCKET}/in/reviews.csv"]
    arguments += ["--output", f"s3://{BUCKET}/out/scored.parquet", "--batch-size", "50"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "scored 120 rows (1 without text: left unscored)" in result.stdout
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    keys = sorted(key for key in listed if not key.endswith("/"))  # SeaweedFS lists folders
    assert keys == ["in/reviews.csv", "out/scored.parquet"]  # no temporary left
    body = s3.get_object(Bucket=BUCKET, Key="out/scored.parquet")["Body"].read()
    scored = pd.read_parquet(io.BytesIO(body))
    assert len(scored) == 120 and scored["sentiment"].notna().sum() == 119

    again = CliRunner().invoke(app, arguments)
    assert again.exit_code == 2
    assert again.stderr.strip() == (
        f"error: s3://{BUCKET}/out/scored.parquet exists: use --force to replace it"
    )


@pytest.mark.slow  # an S3 server process: over a second of CPU
def test_a_missing_object_is_one_line(s3) -> None:
    arguments = ["score", "--input", f"s3://{BUCKET}/nothing.csv"]
    result = CliRunner().invoke(app, [*arguments, "--output", f"s3://{BUCKET}/out.parquet"])
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == f"error: cannot read s3://{BUCKET}/nothing.csv: it does not exist"
    )


@pytest.mark.slow
def test_the_spark_engine_without_hadoop_aws_says_how_to_add_it(
    s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyPI's pyspark has no S3A connector: one line naming the spark-submit package, before
    any scoring, and nothing written."""
    from pyspark.sql import SparkSession

    s3.put_object(Bucket=BUCKET, Key="in/reviews.csv", Body=b"id,text\n1,Great.\n")
    monkeypatch.setenv("SPARK_MASTER", "local[1]")
    get_settings.cache_clear()
    arguments = ["score", "--input", f"s3://{BUCKET}/in/reviews.csv", "--engine", "spark"]
    try:
        result = CliRunner().invoke(app, [*arguments, "--output", f"s3://{BUCKET}/out.parquet"])
    finally:
        session = SparkSession.getActiveSession()
        hadoop = session.sparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion()
        session.stop()
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: s3://{BUCKET}/in/reviews.csv: this Spark has no S3 connector (hadoop-aws); "
        f"run with spark-submit --packages org.apache.hadoop:hadoop-aws:{hadoop} "
        "(see README, Scoring a dataset) or use --engine local"
    ]
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(key for key in listed if not key.endswith("/")) == ["in/reviews.csv"]
