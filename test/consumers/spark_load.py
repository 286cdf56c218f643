"""Runs section A of `mixpeek-export ddl --target databricks` (the PySpark job) on a local
Spark + Delta session, once per round, as a job scheduled after each export would run.

stdin: one JSON object
  ddl        the whole stdout of `ddl --target databricks`
  format     "parquet" | "ndjson"
  dataUrl    the collection's data folder as the DDL spells it (replaced by `mirror`)
  mirror     a local folder standing in for that data folder (empty at the start)
  warehouse  a local folder for the Delta tables and the Derby-free in-memory catalog
  valueColumns, vectorColumn  the columns whose values the last round reports
  rounds     [[{"src": local file, "rel": "dt=YYYY-MM-DD/part-...", ...}], ...]: before each
             round its files are copied into `mirror` (the export staged them), then the job runs

stdout (last line): {"substitutions": [...], "rounds": [{"latest": [[id, updated_at]], "files":
  {rel: rows in <table> from that file}, "tombstones": [ids with a _deleted row in <table>]}],
  "schema": {"table": [[name, type]], "latest": [[name, type]]}, "tables": [table, latest],
  "values": [[document_id, *valueColumns, vector length, vector[0]]] of <table>_latest after the last round}

Only the Databricks-only parts of the printed job are replaced, as text, before it runs; each
replacement must match exactly once (a changed DDL fails here, loudly), and each is reported.
"""
import json
import os
import re
import shutil
import sys

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession, functions as F

req = json.loads(sys.stdin.read())
json_format = req["format"] == "ndjson"

section = req["ddl"].split("# ----- A. PySpark job", 1)[1].split("\n-- ----- B.", 1)[0]
section = section.split("\n", 1)[1]

# (what, pattern, replacement): the Databricks-only parts and their open-source stand-ins.
SUBSTITUTIONS = [
    (
        'Auto Loader (format "cloudFiles") -> Spark\'s own streaming file source of the same format, '
        "with the schema the hints give (plus dt STRING: Auto Loader adds the Hive partition column dt itself)",
        r'spark\.readStream\.format\("cloudFiles"\)\n\s*\.option\("cloudFiles\.format", "(parquet|json)"\)',
        lambda m: f'spark.readStream.format("{m.group(1)}").schema(hints + ", dt STRING")',
    ),
    (
        "cloudFiles.schemaLocation / schemaHints / schemaEvolutionMode / inferColumnTypes options dropped "
        "(Auto Loader's own; the schema above stands for them)",
        r'\n\s*\.option\("cloudFiles\.schemaLocation", f"\{state\}/schema"\)'
        r'\n\s*\.option\("cloudFiles\.schemaHints", hints\)'
        r'\n\s*\.option\("cloudFiles\.schemaEvolutionMode", "addNewColumns"\)'
        + (r'\n\s*\.option\("cloudFiles\.inferColumnTypes", "true"\)' if json_format else ""),
        "",
    ),
    (
        f"the data folder {req['dataUrl']} -> a local folder holding the same files",
        re.escape(json.dumps(req["dataUrl"])),
        json.dumps(req["mirror"]),
    ),
    (
        "Unity Catalog names main.mixpeek.<table> -> the local database mixpeek.<table> (open-source Delta's "
        "DeltaTable.createIfNotExists().tableName() parses only two-part names), in CREATE SCHEMA and COLLECTIONS",
        r"\bmain\.mixpeek\b",
        "mixpeek",
        2,
    ),
]

applied = []
for what, pattern, replacement, *times in SUBSTITUTIONS:
    section, n = re.subn(pattern, replacement, section)
    if n != (times[0] if times else 1):
        raise SystemExit(f"substitution matched {n} times, not {times[0] if times else 1}: {what}\npattern: {pattern}\n--- job ---\n{section}")
    applied.append(what)

spark = configure_spark_with_delta_pip(
    SparkSession.builder.master("local[2]")
    .appName("mixpeek-consumers-spark")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.shuffle.partitions", "4")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.sql.warehouse.dir", os.path.join(req["warehouse"], "warehouse"))
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
).getOrCreate()
spark.sparkContext.setLogLevel("ERROR")

# The table names the job prints (COLLECTIONS' third member), read back from the job itself.
scope = {"spark": spark}
tables = re.findall(r'^\s*\("[^"]+", "[^"]+", "([^"]+)",$', section, re.M)
if len(tables) != 1:
    raise SystemExit(f"expected one collection in the job, found tables {tables}")
table = tables[0]
latest = f"{table}_latest"
ISO = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"

rounds = []
for files in req["rounds"]:
    for f in files:
        target = os.path.join(req["mirror"], f["rel"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(f["src"], target)
    exec(compile(section, "ddl-section-A.py", "exec"), scope)  # the printed job, as scheduled after an export
    latest_rows = (
        spark.table(latest).select("document_id", F.date_format("updated_at", ISO).alias("u")).orderBy("document_id").collect()
    )
    mirror_uri = "file://" + req["mirror"].rstrip("/") + "/"
    per_file = spark.table(table).groupBy("_file_name").count().collect()
    tomb = spark.table(table).where("_deleted").select("document_id").distinct().orderBy("document_id").collect()
    rounds.append(
        {
            "latest": [[r.document_id, r.u] for r in latest_rows],
            "files": {r._file_name.replace(mirror_uri, "").replace("file:" + req["mirror"].rstrip("/") + "/", ""): r["count"] for r in per_file},
            "tombstones": [r.document_id for r in tomb],
        }
    )


def values(columns, vector):
    """Every row of <table>_latest after the last round: document_id, the given columns as JSON
    values (timestamps as ISO micros Z, dates as YYYY-MM-DD), and the vector's length and first element."""
    cols = [F.date_format(c, ISO).alias(c) if dict(spark.table(latest).dtypes)[c] == "timestamp" else F.col(c) for c in columns]
    rows = spark.table(latest).select("document_id", *cols, F.size(vector).alias("_n"), F.col(vector)[0].alias("_v0")).orderBy("document_id")
    return [[r.document_id, *[str(r[c]) if isinstance(r[c], __import__("datetime").date) else r[c] for c in columns], r._n, r._v0] for r in rows.collect()]


def fields(name):
    return [[f.name, f.dataType.simpleString()] for f in spark.table(name).schema.fields]


def java_types(name):
    """The Spark type classes, for the checks that name them (TimestampType, ArrayType(FloatType))."""
    return {f.name: repr(f.dataType) for f in spark.table(name).schema.fields}


print(
    json.dumps(
        {
            "substitutions": applied,
            "tables": [table, latest],
            "rounds": rounds,
            "schema": {"table": fields(table), "latest": fields(latest)},
            "typeNames": {"table": java_types(table), "latest": java_types(latest)},
            "versions": {"spark": spark.version},
            "values": values(req["valueColumns"], req["vectorColumn"]),
        }
    )
)
spark.stop()
