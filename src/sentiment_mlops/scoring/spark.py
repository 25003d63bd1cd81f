"""The Spark engine: the same prediction step on Apache Spark's executors, for data larger
than one machine.

Why not `mlflow.pyfunc.spark_udf`: it calls the model's pyfunc `predict`, which for our
scikit-learn flavour returns labels only, so it cannot give the confidence the API returns.
Instead the loaded version is broadcast once and each partition runs `predict.score_texts`
(through `mapInPandas`), the very function of the local engine: both engines and
`/predict/batch` agree by construction, and the executors need this package installed (see
README, "Scoring a dataset").

Spark writes a folder of part files. It is written to a hidden folder beside the target and
renamed onto it through Hadoop's file system once complete; a failure removes it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from sentiment_mlops.errors import UserError
from sentiment_mlops.scoring.files import Location, first_line
from sentiment_mlops.scoring.local import Counts
from sentiment_mlops.scoring.predict import Scorer, score_texts
from sentiment_mlops.scoring.reader import check_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

APP_NAME = "sentiment-scoring"


def spark_session(master: str | None, s3_endpoint_url: str | None) -> SparkSession:
    """The active session, or a new one on `master` (None: spark-submit's, else local[*])."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(APP_NAME)
    if master:
        builder = builder.master(master)
    if s3_endpoint_url:  # read only where the cluster has hadoop-aws (s3a)
        builder = builder.config("spark.hadoop.fs.s3a.endpoint", s3_endpoint_url).config(
            "spark.hadoop.fs.s3a.path.style.access", "true"
        )
    session = builder.getOrCreate()
    if (session.sparkContext.master or "").startswith("local"):
        # Local executors are this machine's: run them on this interpreter, which has the
        # model's libraries, not on whatever `python3` is first on PATH.
        session.sparkContext.pythonExec = sys.executable
    return session


def score_with_spark(
    spark: SparkSession,
    source: Location,
    target: Location,
    scorer: Scorer,
) -> Counts:
    """Score `source` into the folder `target` with Spark; rows and null texts counted."""
    from pyspark.sql import types

    text_column, version = scorer.text_column, scorer.version
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(scorer.batch_size))
    frame = _read(spark, source)
    check_columns(source.uri, frame.columns, text_column)
    parallelism = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < parallelism:
        # A CSV with line breaks in values is one partition (it cannot be split): spread it
        # over the executors. Rows then come out in another order, as Spark never promised.
        frame = frame.repartition(parallelism)
    schema = types.StructType(
        [
            *frame.schema.fields,
            types.StructField("sentiment", types.StringType()),
            types.StructField("confidence", types.DoubleType()),
            types.StructField("model_version", types.StringType()),
        ]
    )
    context = spark.sparkContext
    shared = context.broadcast(scorer.model)
    rows, null_texts = context.accumulator(0), context.accumulator(0)

    def score_partition(frames: Iterator[Any]) -> Iterator[Any]:
        loaded = shared.value
        for part in frames:
            scores = score_texts(loaded, part[text_column].tolist())
            rows.add(len(part))
            null_texts.add(scores.null_texts)
            yield part.assign(
                sentiment=scores.sentiment, confidence=scores.confidence, model_version=version
            )

    _write_atomically(spark, frame.mapInPandas(score_partition, schema), target)
    shared.unpersist()
    return Counts(rows.value, null_texts.value)


def hadoop_uri(location: Location) -> str:
    """The URI Spark reads `location` at: s3a:// for S3 (Hadoop's connector), file:// else."""
    if location.is_s3:
        return "s3a://" + location.path
    return PurePosixPath(location.path).as_uri()


def _read(spark: SparkSession, source: Location) -> DataFrame:
    uri = hadoop_uri(source)
    try:
        if source.format == "parquet":
            return spark.read.parquet(uri)
        # As the local engine reads CSV: a header, quotes doubled inside quoted values, line
        # breaks inside quotes. Columns are read as text (no second pass to infer types).
        return spark.read.csv(uri, header=True, multiLine=True, escape='"')
    except Exception as error:  # AnalysisException, Py4JJavaError: a Java error, as text
        raise UserError(f"spark cannot read {source.uri}: {first_line(error)}") from error


def _write_atomically(spark: SparkSession, frame: DataFrame, target: Location) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a live session has its gateway
    final = hadoop_uri(target)
    name = PurePosixPath(target.path).name
    temporary = final.rsplit("/", 1)[0] + f"/.{name}.{uuid.uuid4().hex[:12]}.tmp"
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    filesystem = hadoop_path(final).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        writer = frame.write.mode("error")
        if target.format == "csv":
            writer.csv(temporary, header=True, escape='"')
        else:
            writer.parquet(temporary)
        if filesystem.exists(hadoop_path(final)):  # --force: checked before scoring began
            filesystem.delete(hadoop_path(final), True)
        if not filesystem.rename(hadoop_path(temporary), hadoop_path(final)):
            raise UserError(f"cannot move the scored rows to {target.uri}")
    except BaseException:
        filesystem.delete(hadoop_path(temporary), True)
        raise
