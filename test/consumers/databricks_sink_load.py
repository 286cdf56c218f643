"""Runs the statements the `databricks-sql` sink sent (recorded by the fake workspace) on a local
Spark + Delta session, in order, one round after another, as the SQL warehouse would.

stdin: one JSON object
  warehouse   a local folder for the Delta tables (spark.sql.warehouse.dir)
  rounds      [[statement text, ...], ...]: what the sink sent during each export, in order
  jsonColumns the JSON columns (text in the table) whose values the last round reports

stdout (last line): {"versions": {"spark", "delta"}, "substitutions": {what: times applied},
  "rounds": [{"statements": [{"kind", "sql" (as run, or the INSERTs standing in for COPY INTO),
  "result"}], "table": [[document_id, updated_at, _deleted, _file_name, _run_id]],
  "latest": [[document_id, updated_at, _deleted]]}], "schema": {"table": [[name, type]],
  "latest": [[name, type]]}, "typeNames": {...}, "json": [[_file_name, document_id, column, text]]}

Open-source Spark lacks a few Databricks things; the only changes made to a statement are these
(each counted in "substitutions", and a statement none of the patterns below recognises fails):
- Unity Catalog's `catalog`.`schema`.`table` -> `schema`.`table` (the session catalog is two-part);
- CREATE TABLE gets USING DELTA (open-source Spark's default provider is parquet);
- COPY INTO (Databricks only) -> for the files the PATTERN matches under the source that this
  table has not loaded before (COPY INTO's idempotency, kept here in `loaded`), one
  `INSERT INTO <table> BY NAME SELECT <the sink's select list, verbatim>, _metadata.file_path AS
  _file_name FROM <parquet|text>.`<those files>`` (one statement: COPY INTO infers one schema
  across the files it loads), with spark.databricks.delta.schema.autoMerge.enabled set for that
  INSERT only (COPY_OPTIONS mergeSchema: a new column evolves the table);
- MERGE WITH SCHEMA EVOLUTION INTO -> MERGE INTO, with autoMerge set for that MERGE only: Delta
  4.0.0 parses the clause but does not evolve the target by it (a column new in the source is not
  added), which autoMerge does. The rest of the MERGE runs verbatim (`* EXCEPT`, the window, the
  WHEN clauses).
A statement Spark refuses ends its round's delivery there, as the sink stops at a FAILED statement.
"""
import fnmatch
from importlib import metadata
import json
import os
import re
import sys
from urllib.parse import unquote, urlparse

from delta import configure_spark_with_delta_pip
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

req = json.loads(sys.stdin.read())

spark = configure_spark_with_delta_pip(
    SparkSession.builder.master("local[2]")
    .appName("mixpeek-consumers-databricks-sink")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.shuffle.partitions", "2")
    .config("spark.databricks.delta.snapshotPartitions", "1")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.sql.warehouse.dir", os.path.join(req["warehouse"], "warehouse"))
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
).getOrCreate()
spark.sparkContext.setLogLevel("ERROR")

SUBSTITUTIONS = {
    "three-part `catalog`.`schema`.`table` -> two-part `schema`.`table`": 0,
    "CREATE TABLE ... USING DELTA (the default provider of open-source Spark is parquet)": 0,
    "COPY INTO -> one INSERT INTO <table> BY NAME SELECT <the sink's select list>, _file_name "
    "FROM <format>.`<the matching files not loaded before>`, schema.autoMerge on for that INSERT (mergeSchema)": 0,
    "MERGE WITH SCHEMA EVOLUTION INTO -> MERGE INTO with schema.autoMerge on for that MERGE "
    "(Delta 4.0.0 parses the clause but does not evolve the target by it)": 0,
}
S_NAME, S_USING, S_COPY, S_MERGE = SUBSTITUTIONS.keys()

THREE_PART = re.compile(r"`[^`]+`\.(`[^`]+`\.`[^`]+`)")
COPY = re.compile(
    r"^COPY INTO (?P<table>\S+)\nFROM \(SELECT (?P<select>.*), _metadata\.file_path AS `_file_name` FROM '(?P<source>[^']*)'\)\n"
    r"FILEFORMAT = (?P<format>PARQUET|JSON|TEXT)\nPATTERN = '(?P<pattern>[^']*)'\n"
    r"FORMAT_OPTIONS \('mergeSchema' = 'true'\)\nCOPY_OPTIONS \('mergeSchema' = 'true'\)$",
    re.S,
)
loaded = {}  # table -> source files loaded (COPY INTO skips them)


def two_part(sql):
    out, n = THREE_PART.subn(r"\1", sql)
    if n:
        SUBSTITUTIONS[S_NAME] += 1
    return out


def matching(source, pattern):
    """Files under the source folder whose path relative to it matches the PATTERN glob (`*` within a segment)."""
    root = unquote(urlparse(source).path)
    parts = pattern.split("/")
    out = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), root).split(os.sep)
            if len(rel) == len(parts) and all(fnmatch.fnmatchcase(r, p) for r, p in zip(rel, parts)):
                out.append(os.path.join(dirpath, name))
    return sorted(out)


def copy_into(m):
    """COPY INTO as one INSERT reading every new file at once (COPY INTO infers one schema across the
    files it loads); returns the statement run (none when every file was loaded before) and the rows inserted."""
    table, fmt = m["table"], m["format"].lower()
    done = loaded.setdefault(table, set())
    root = unquote(urlparse(m["source"]).path).rstrip("/")
    files = [f for f in matching(m["source"], m["pattern"]) if f not in done]
    SUBSTITUTIONS[S_COPY] += 1
    if not files:
        return [], {"files": 0, "num_inserted_rows": 0}
    rel = [os.path.relpath(f, root) for f in files]
    # A Hadoop glob naming exactly these files ({a,b}: alternatives, each a relative path).
    path = f"file://{root}/{rel[0] if len(rel) == 1 else '{' + ','.join(rel) + '}'}"
    sql = f"INSERT INTO {table} BY NAME SELECT {m['select']}, _metadata.file_path AS `_file_name` FROM {fmt}.`{path}`"
    before = spark.table(table).count()
    spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    try:
        spark.sql(sql)
    finally:
        spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "false")
    done.update(files)
    return [sql], {"files": len(files), "num_inserted_rows": spark.table(table).count() - before}


def run(statement):
    sql = two_part(statement)
    if sql.startswith("CREATE TABLE IF NOT EXISTS "):
        sql, n = re.subn(r"\)\nCOMMENT '", ")\nUSING DELTA\nCOMMENT '", sql, count=1)
        if n != 1:
            raise SystemExit(f"CREATE TABLE without the column list and COMMENT the sink writes:\n{statement}")
        SUBSTITUTIONS[S_USING] += 1
        spark.sql(sql)
        return {"kind": "create", "sql": [sql], "result": None}
    m = COPY.match(sql)
    if m:
        ran, result = copy_into(m)
        return {"kind": "copy", "sql": ran, "result": result}
    if sql.startswith("MERGE WITH SCHEMA EVOLUTION INTO "):
        sql = "MERGE INTO " + sql[len("MERGE WITH SCHEMA EVOLUTION INTO ") :]
        SUBSTITUTIONS[S_MERGE] += 1
        spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
        try:
            row = spark.sql(sql).collect()[0].asDict()
        finally:
            spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "false")
        return {"kind": "merge", "sql": [sql], "result": {k: int(v) for k, v in row.items()}}
    raise SystemExit(f"a statement this script does not know (the sink changed?):\n{statement}")


ISO = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
tables = []
rounds = []
for statements in req["rounds"]:
    done = []
    for s in statements:
        try:
            done.append(run(s))
        except AnalysisException as e:  # the warehouse's FAILED: the sink stops this delivery here
            done.append({"kind": "failed", "sql": [s], "result": None, "error": {"condition": e.getCondition(), "message": str(e).split("\n")[0]}})
            break
    for s in statements:
        name = re.match(r"CREATE TABLE IF NOT EXISTS (\S+)", THREE_PART.sub(r"\1", s))
        if name and name.group(1) not in tables:
            tables.append(name.group(1))
    table, latest = tables  # the versions table, then <table>_latest
    rounds.append(
        {
            "statements": done,
            "table": [
                list(r)
                for r in spark.sql(
                    f"SELECT document_id, date_format(updated_at, \"{ISO}\"), coalesce(_deleted, false), _file_name, _run_id FROM {table} ORDER BY 4, 1"
                ).collect()
            ],
            "latest": [list(r) for r in spark.sql(f"SELECT document_id, date_format(updated_at, \"{ISO}\"), _deleted FROM {latest} ORDER BY 1").collect()],
        }
    )

table, latest = tables
json_rows = []
for c in req["jsonColumns"]:
    for r in spark.sql(f"SELECT _file_name, document_id, `{c}` FROM {table} WHERE `{c}` IS NOT NULL").collect():
        json_rows.append([r[0], r[1], c, r[2]])

print(
    json.dumps(
        {
            "versions": {"spark": spark.version, "delta": metadata.version("delta-spark")},
            "tables": [table, latest],
            "substitutions": SUBSTITUTIONS,
            "rounds": rounds,
            "schema": {w: [[f.name, f.dataType.simpleString()] for f in spark.table(n).schema.fields] for w, n in (("table", table), ("latest", latest))},
            "typeNames": {w: {f.name: repr(f.dataType) for f in spark.table(n).schema.fields} for w, n in (("table", table), ("latest", latest))},
            "json": json_rows,
        }
    )
)
spark.stop()
