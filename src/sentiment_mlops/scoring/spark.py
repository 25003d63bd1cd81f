"""The Spark engine: the registered version's pyfunc flavour on Apache Spark's executors
(`mlflow.pyfunc.spark_udf`), for data larger than one machine.

The flavour (`core.scores.ScoredTexts`, shipped in the model's code folder) answers a
`sentiment` and a `confidence` per text, the very function of the local engine and the API's
label rule, so both engines and `/predict/batch` agree by construction. The UDF is built from
the version's files, downloaded once on the driver; MLflow ships them to the executors, which
need the model's libraries (its requirements.txt) but not this package.

Versions logged before the flavour answered scores (their pyfunc is scikit-learn's, labels only)
are refused with one line: the local engine scores them.

Spark writes a folder of part files. It is written to a hidden folder beside the target and
renamed onto it through Hadoop's file system once complete; a failure removes it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from sentiment_mlops.core.scores import SCORE_COLUMNS
from sentiment_mlops.errors import UserError
from sentiment_mlops.scoring.files import Location, first_line
from sentiment_mlops.scoring.local import Counts
from sentiment_mlops.scoring.reader import check_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

APP_NAME = "sentiment-scoring"
# The UDF's result: one struct of the pyfunc's columns, in Spark's DDL (its types' names).
RESULT_TYPE = ", ".join(f"{column} {kind}" for column, kind in SCORE_COLUMNS.items())
_S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"


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
    model_folder: Path,
    *,
    version: str,
    text_column: str,
    batch_size: int,
) -> Counts:
    """Score `source` into the folder `target` with the model at `model_folder` (a pyfunc
    answering SCORE_COLUMNS); rows and null texts counted."""
    from pyspark.sql import Observation, functions

    check_s3_support(spark, source, target)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_size))
    frame = _read(spark, source)
    check_columns(source.uri, frame.columns, text_column)
    parallelism = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < parallelism:
        # A CSV with line breaks in values is one partition (it cannot be split): spread it
        # over the executors. Rows then come out in another order, as Spark never promised.
        frame = frame.repartition(parallelism)
    scores = _scores_udf(spark, model_folder)(frame[text_column])
    unscored = scores["confidence"].isNull()  # the pyfunc's answer for a missing text
    scored = frame.select(
        *(frame[column] for column in frame.columns),
        # MLflow casts a struct's string field with numpy's `str`, so the pyfunc's None
        # arrives as "nan": the row's null confidence says it was not scored.
        functions.when(~unscored, scores["sentiment"]).alias("sentiment"),
        scores["confidence"].alias("confidence"),
        functions.lit(version).alias("model_version"),
    )
    counted = Observation("counts")  # filled by the write, without a second pass
    scored = scored.observe(
        counted,
        functions.count(functions.lit(1)).alias("rows"),
        functions.count_if(scored["confidence"].isNull()).alias("null_texts"),
    )
    _write_atomically(spark, scored, target)
    metrics = counted.get
    return Counts(int(metrics["rows"]), int(metrics["null_texts"]))


def _scores_udf(spark: SparkSession, model_folder: Path) -> Callable[[Column], Column]:
    import mlflow.pyfunc

    # env_manager="local": executors run the model in their own Python, as the driver's here
    # (a cluster installs the model's requirements.txt on its nodes).
    return mlflow.pyfunc.spark_udf(
        spark, str(model_folder), result_type=RESULT_TYPE, env_manager="local"
    )


def check_s3_support(spark: SparkSession, *locations: Location) -> None:
    """Spark reaches s3:// through Hadoop's S3A connector (hadoop-aws), which a plain PyPI
    pyspark lacks: say how to add it rather than fail inside a job."""
    s3 = next((location for location in locations if location.is_s3), None)
    if s3 is None:
        return
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a live session has its gateway
    try:
        jvm.java.lang.Class.forName(_S3A)
    except Exception:  # Py4JJavaError wrapping ClassNotFoundException
        hadoop = jvm.org.apache.hadoop.util.VersionInfo.getVersion()
        raise UserError(
            f"{s3.uri}: this Spark has no S3 connector (hadoop-aws); run with "
            f"spark-submit --packages org.apache.hadoop:hadoop-aws:{hadoop} "
            "(see README, Scoring a dataset) or use --engine local"
        ) from None


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
