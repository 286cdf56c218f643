"""Runs the script `mixpeek-export ddl --target snowflake --load copy` printed on fakesnow
(Snowflake SQL on DuckDB), as Snowflake would, and loads the staged files in steps.

stdin: {"sql": <the printed script>, "format": "parquet" | "ndjson",
        "steps": [{"files": [{"path": <local copy>, "key": <path under the collection's data/>}]}]}
A file may carry "decoy": true: it is PUT into the stage too (a file the PATTERN must skip) and
left out of the comparison. Each step PUTs its files into the stage (a step lists every file staged so far: PUT skips
the ones already there), runs the COPY, and reads the `_latest` view.

Every statement runs as printed first. Only the parts fakesnow lacks are replaced, each with
the closest statement it takes, and each replacement is reported in "gaps" (the test prints
them): the external S3 stage (always: no S3 here) becomes an internal stage, PATTERN is
applied to the stage listing in Python and each matching file COPYed by its path, the
stage's FILE_FORMAT is named in the COPY, INCLUDE_METADATA's _file_name is set by an UPDATE
per loaded file, and so on.

stdout, last line: {"gaps": [...], "steps": [{"copy": [[file, status, rows]], "latest": [...],
"table_rows": n, "compared": {"columns", "non_null_values", "differences"}}], "columns": {view column: type}}
"""

import json
import re
import sys
import warnings
from datetime import datetime, timezone
import gzip
import shutil

warnings.filterwarnings("ignore")

import duckdb  # noqa: E402
import fakesnow  # noqa: E402
import snowflake.connector  # noqa: E402
from fakesnow.transforms.stage import LOCAL_BUCKET_PATH  # noqa: E402

def statements(script):
    """Splits on `;` outside quotes, dropping `--` comments outside quotes."""
    out, cur, i, quoted = [], [], 0, False
    while i < len(script):
        ch = script[i]
        if quoted:
            cur.append(ch)
            if ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
            cur.append(ch)
        elif script.startswith("--", i):
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        elif ch == ";":
            text = "".join(cur).strip()
            if text:
                out.append(text)
            cur = []
        else:
            cur.append(ch)
        i += 1
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def main():
    try:
        run_job(json.loads(sys.stdin.read()))
    finally:
        # fakesnow keeps its internal stages in a temp folder made at import and never removed.
        shutil.rmtree(LOCAL_BUCKET_PATH, ignore_errors=True)


def run_job(job):
    gaps = []

    def gap(what):
        if what not in gaps:
            gaps.append(what)
            print(f"not covered on fakesnow: {what}", file=sys.stderr)

    with fakesnow.patch():
        conn = snowflake.connector.connect()
        cur = conn.cursor()

        def run(sql):
            cur.execute(sql)
            return cur.fetchall()

        def attempt(sql):
            try:
                return True, run(sql)
            except Exception as error:  # fakesnow raises several classes; the message is what we report
                return False, str(error).split("\n")[0][:160]

        parsed = statements(job["sql"])
        # The header says the database must exist (--database): the one FILL IN step.
        database = re.search(r"CREATE SCHEMA IF NOT EXISTS (\w+)\.", parsed[0]).group(1)
        run(f"CREATE DATABASE IF NOT EXISTS {database}")

        copies, view_sql, stages, table = [], None, {}, None
        for sql in parsed:
            head = " ".join(sql.split()[:4]).upper()
            if head.startswith("CREATE STAGE"):
                name = sql.split()[5]
                file_format = re.search(r"FILE_FORMAT = (\S+)", sql).group(1)
                stages[name] = file_format
                gap("the external stage (URL, STORAGE_INTEGRATION): an internal stage with the same name and FILE_FORMAT, the files PUT into it")
                run(f"CREATE STAGE IF NOT EXISTS {name} FILE_FORMAT = {file_format}")
            elif head.startswith("COPY INTO"):
                copies.append(sql)
            elif head.startswith("CREATE OR REPLACE VIEW"):
                view_sql = sql
            else:
                if head.startswith("CREATE TABLE"):
                    table = sql.split()[5]
                    if "ENABLE_SCHEMA_EVOLUTION" in sql:
                        gap("ENABLE_SCHEMA_EVOLUTION: fakesnow takes CREATE TABLE ... ENABLE_SCHEMA_EVOLUTION = TRUE but ignores it (a file column the table lacks is dropped, not added)")
                ok, result = attempt(sql)
                if not ok:
                    if "SET ENABLE_SCHEMA_EVOLUTION" in sql:
                        gap(f"ALTER TABLE ... SET ENABLE_SCHEMA_EVOLUTION = TRUE (fakesnow: {result}); skipped")
                    else:
                        raise RuntimeError(f"fakesnow refused a generated statement: {result}\n{sql}")

        if view_sql is None or table is None or len(copies) != 1:
            raise RuntimeError(f"expected one table, one COPY and one view; got table={table} copies={len(copies)} view={view_sql is not None}")
        ok, result = attempt(view_sql)
        if not ok:
            if "::VECTOR(" not in view_sql:
                raise RuntimeError(f"fakesnow refused the generated view: {result}")
            gap(f"VECTOR: the view's ::VECTOR(FLOAT, n) casts (fakesnow: {result}); the view created with the ARRAY columns instead")
            view_sql = re.sub(r"::VECTOR\(FLOAT, \d+\)", "", view_sql)
            run(view_sql)
        if "QUALIFY" in view_sql:
            pass  # fakesnow (DuckDB) runs QUALIFY as Snowflake does: covered
        view = re.search(r"VIEW (\S+) AS", view_sql).group(1)

        copy = copies[0]
        stage = re.search(r"FROM @(\S+)", copy).group(1)
        pattern = re.search(r"PATTERN = '([^']*)'", copy)
        include = re.search(r"INCLUDE_METADATA = \((\w+) = METADATA\$FILENAME\)", copy)
        ok, result = attempt(copy)
        if ok:
            raise RuntimeError("fakesnow ran the printed COPY as is: drop the adaptation below")
        gap(f"COPY as printed (fakesnow: {result}): PATTERN applied to LIST @stage in Python, each matching file COPYed by its path (FROM @stage/<path>, a prefix; fakesnow refuses FILES = (...) on an internal stage)")
        adapted = copy
        if pattern:
            adapted = adapted.replace(pattern.group(0), "")
        if include:
            gap("INCLUDE_METADATA = (_file_name = METADATA$FILENAME): set by an UPDATE of the rows each file loaded")
            adapted = adapted.replace(include.group(0), "")
        gap("the stage's FILE_FORMAT (fakesnow's COPY reads CSV unless the COPY names a format): FILE_FORMAT = (FORMAT_NAME = ...) added to the COPY")
        adapted = adapted.replace(f"FROM @{stage}", f"FROM @{stage}/{{path}} FILE_FORMAT = (FORMAT_NAME = '{stages[stage]}')")
        regex = re.compile(pattern.group(1)) if pattern else None
        staged_name = stage.split(".")[-1].lower()

        metadata = include.group(1) if include else None
        table_columns = [(r[0].lower(), r[1]) for r in run(f"DESCRIBE TABLE {table}")]
        raw = f"{table}_fakesnow_raw"
        staging = []  # set once fakesnow refuses MATCH_BY_COLUMN_NAME for this format

        def load(relative, name):
            """COPYs one staged file; the COPY's result rows (file, status, rows_parsed, rows_loaded, ...)."""
            if not staging:
                ok, result = attempt(adapted.format(path=relative))
                if ok:
                    if metadata and any(r[1] == "LOADED" for r in result):
                        run(f"UPDATE {table} SET {metadata} = '{name}' WHERE {metadata} IS NULL")
                    return result
                if job["format"] != "ndjson" or "values were supplied" not in result:
                    raise RuntimeError(f"fakesnow refused the adapted COPY: {result}")
                gap(f"MATCH_BY_COLUMN_NAME on JSON files (fakesnow: {result}): each file COPYed into a one-VARIANT table, then INSERT INTO the table SELECT $1:<column>::<declared type>, the closest equivalent")
                # fakesnow reads JSON with DuckDB's read_json_objects, whose Hive partition detection adds the
                # dt= folder as a second column (Snowflake would not): the staging table takes it too.
                gap("fakesnow's JSON COPY adds the dt= folder as a column (DuckDB hive_partitioning auto-detection); the one-VARIANT table has a dt column for it")
                run(f"CREATE TABLE IF NOT EXISTS {raw} (v VARIANT, dt DATE)")
                staging.append(True)
            # fakesnow loads JSON into one VARIANT column only; DELETE (not TRUNCATE) keeps its load history.
            run(f"DELETE FROM {raw}")
            result = run(f"COPY INTO {raw} FROM @{stage}/{relative} FILE_FORMAT = (FORMAT_NAME = '{stages[stage]}')")
            if any(r[1] == "LOADED" for r in result):
                names = [c for c, _ in table_columns]
                values = [f"'{name}'" if c == metadata else f"v:{c}" if t == "VARIANT" else f"v:{c}::{t}" for c, t in table_columns]
                run(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} FROM {raw}")
            return result

        columns = {r[0].lower(): r[1] for r in run(f"DESCRIBE VIEW {view}")}
        steps = []
        for step in job["steps"]:
            for f in step["files"]:
                folder = f["key"].rsplit("/", 1)[0]
                run(f"PUT file://{f['path']} @{stage}/{folder}/ AUTO_COMPRESS = FALSE")
            listed = [r[0] for r in run(f"LIST @{stage}")]
            loaded, skipped = [], []
            for name in sorted(listed):
                relative = name.split("/", 1)[1]  # LIST names start with the stage's name
                if regex and not regex.fullmatch(name) and not regex.fullmatch(relative):
                    skipped.append(relative)
                    continue
                for row in load(relative, name):
                    loaded.append([relative, row[1], row[3]])
            latest = [(d, utc(u)) for d, u in run(f"SELECT document_id, updated_at FROM {view} ORDER BY document_id")]
            mismatches = compare(cur, view, job["format"], [f["path"] for f in step["files"] if not f.get("decoy")], columns)
            steps.append({
                "copy": loaded,
                "skipped_by_pattern": skipped,
                "latest": [{"document_id": d, "updated_at": u} for d, u in latest],
                "table_rows": run(f"SELECT COUNT(*) FROM {table}")[0][0],
                "null_file_names": run(f"SELECT COUNT(*) FROM {table} WHERE _file_name IS NULL")[0][0],
                "compared": mismatches,
            })
        print(json.dumps({"gaps": gaps, "steps": steps, "columns": columns, "stage_prefix": staged_name}))


def utc(value):
    """A TIMESTAMP_LTZ as the exporter writes times: `2026-11-21T15:30:00.123456Z`."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else None


def compare(cur, view, file_format, paths, columns):
    """The view's value of every shared column, against the newest row of the document in the files (DuckDB)."""
    if file_format == "parquet":
        source = f"read_parquet({json.dumps(paths)}, union_by_name = true)".replace('"', "'")
        files = duckdb.sql(f"SELECT * FROM {source} QUALIFY ROW_NUMBER() OVER (PARTITION BY document_id ORDER BY updated_at DESC, _exported_at DESC) = 1")
        file_columns = [c.lower() for c in files.columns]
        rows = {r[file_columns.index("document_id")]: dict(zip(file_columns, r)) for r in files.fetchall()}
    else:  # the JSON values as written (times are canonical text, so they order as text)
        rows, file_columns = {}, set()
        for p in paths:
            with (gzip.open(p, "rt") if p.endswith(".gz") else open(p)) as lines:
                for line in lines:
                    row = json.loads(line)
                    file_columns.update(row)
                    held = rows.get(row["document_id"])
                    if held is None or (row["updated_at"], row["_exported_at"]) >= (held["updated_at"], held["_exported_at"]):
                        rows[row["document_id"]] = row
        rows = {k: {c: r.get(c) for c in file_columns} for k, r in rows.items()}
    shared = [c for c in columns if c in file_columns and c not in ("document_id",)]
    cur.execute(f"SELECT document_id, {', '.join(shared)} FROM {view}")
    out, compared, variant_nulls = [], 0, {}
    for r in cur.fetchall():
        want = rows.get(r[0])
        if want is None or want.get("_deleted"):
            out.append(f"{r[0]}: in the view, not live in the files")
            continue
        for name, got in zip(shared, r[1:]):
            compared += want[name] is not None
            expected = want[name]
            if columns[name] == "VARIANT" and isinstance(got, str):
                got = json.loads(got)  # the connector returns a VARIANT as its JSON text
                if file_format == "parquet" and isinstance(expected, str):
                    expected = json.loads(expected)  # the file holds JSON text that the view parses
                if got is None:  # a JSON null (the file's `"camera": null`), not SQL NULL
                    variant_nulls[name] = variant_nulls.get(name, 0) + 1
                    if expected is None:
                        continue
            if not same(got, expected):
                out.append(f"{r[0]}.{name}: view {str(got)[:80]!r} ({columns[name]}), file {str(want[name])[:80]!r}")
    return {"columns": shared, "non_null_values": compared, "differences": out[:20], "variant_nulls": variant_nulls}


def same(got, want):
    """Equal as Snowflake would show them: VARIANT/ARRAY come back as JSON text, FLOAT within float32 rounding."""
    if got is None or want is None:
        return got is None and want is None
    if isinstance(got, datetime) and isinstance(want, str):
        return utc(got) == want
    if isinstance(got, str) and not isinstance(want, str):
        try:
            got = json.loads(got)
        except ValueError:
            return False
    if isinstance(want, str) and not isinstance(got, str):
        try:
            want = json.loads(want)
        except ValueError:
            return False
    if isinstance(got, str) and isinstance(want, str) and got != want:
        try:
            return json.loads(got) == json.loads(want)
        except ValueError:
            return False
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(same(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    if isinstance(got, float) or isinstance(want, float):
        return abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want)))
    return got == want


if __name__ == "__main__":
    main()
