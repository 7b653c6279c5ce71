"""`mlspec check-data`: CSV, Parquet, JSON Lines and JSON, with violations counted exactly."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.runtime.conftest import codes

CONTRACT = """\
mlspec: 1
project: {name: shop}
data:
  people:
    uri: data/people.csv
    schema:
      id: {type: string, nullable: false, unique: true}
      age: {type: integer, min: 0, max: 100}
      score: {type: float, max: 2}
      plan: {type: category, values: [basic, pro]}
      active: {type: boolean}
      signup: {type: datetime, nullable: false}
      day: {type: date}
training: {run: "true", outputs: {model: m.bin}}
"""

CSV = """\
id,age,score,plan,active,signup,day
a,30,0.5,basic,true,2024-01-01T10:00:00,2024-01-01
b,-5,1.5,pro,false,2024-01-02T10:00:00Z,2024-01-02
c,abc,,gold,yes,not-a-date,2024-13-01
a,40,2.5,basic,maybe,2024-01-03,2024-01-03
,12.0,x,,1,,
"""

# rule counts per column for CSV above
CSV_EXPECTED = {
    "id": {"null": 1, "unique": 1},               # row 5 empty; 'a' twice
    "age": {"min": 1, "type": 1},                 # -5; 'abc' ('12.0' is a whole number)
    "score": {"type": 1, "max": 1},               # 'x'; 2.5
    "plan": {"values": 1},                        # 'gold'
    "active": {"type": 1},                        # 'maybe' (yes and 1 are booleans)
    "signup": {"type": 1, "null": 1},             # 'not-a-date'; row 5 empty
    "day": {"type": 1},                           # 2024-13-01
}


@pytest.fixture
def shop(project):
    project.write("mlproject.yaml", CONTRACT)
    return project


def _by_rule(result):
    return {c["column"]: c["by_rule"] for c in result.json["results"] if c["by_rule"]}


def test_csv_violations_counted_exactly(shop, mlspec):
    shop.write("data/people.csv", CSV)
    r = mlspec("check-data", "people", "--format", "json")
    assert r.exit_code == 1
    assert _by_rule(r) == CSV_EXPECTED
    assert r.json["violations"] == 11 and r.json["rows"] == 5
    assert set(codes(r)) == {"MS604"} and len(codes(r)) == 7
    age = next(d for d in r.json["diagnostics"] if d["path"] == "data.people.schema.age")
    assert age["message"] == ("data/people.csv: column 'age': 1 value not an integer (e.g. 'abc'), "
                              "1 value below min 0")
    assert age["line"] == 8


def test_csv_text_output(shop, mlspec):
    shop.write("data/people.csv", CSV)
    r = mlspec("check-data", "mlproject.yaml", "people")
    assert r.exit_code == 1
    assert "people: 5 rows, 11 violation(s) (data/people.csv)" in r.stdout
    assert "mlproject.yaml:9:14: error[MS604]: data/people.csv: column 'score'" in r.stderr


def test_clean_csv_passes(shop, mlspec):
    shop.write("data/people.csv", CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n")
    r = mlspec("check-data", "people")
    assert r.exit_code == 0, r.output
    assert "people: 1 rows, 0 violation(s)" in r.stdout


def test_parquet_types_missing_and_unexpected_columns(shop, mlspec):
    table = pa.table({
        "id": pa.array(["a", "b", None, "b"]),                         # null 1, duplicate 1
        "age": pa.array([1.0, 2.5, float("nan"), 200.0]),             # 2.5 not integer; NaN is null; 200 > max
        "score": pa.array([1, 2, 0, 1], pa.int64()),                   # integers are floats
        "plan": pa.array(["basic", "pro", "pro", None]).dictionary_encode(),
        "active": pa.array([0, 1, 2, 1], pa.int64()),                  # 2 is not a boolean
        "signup": pa.array([0, 1, 2, 3], pa.timestamp("s")),
        "extra": pa.array([1, 2, 3, 4]),                               # not in the contract
    })                                                                  # 'day' is missing
    pq.write_table(table, shop.root / "people.parquet")
    r = mlspec("check-data", "people", "--file", "people.parquet", "--format", "json")
    assert r.exit_code == 1
    assert _by_rule(r) == {"id": {"null": 1, "unique": 1}, "age": {"type": 1, "max": 1},
                           "active": {"type": 1}, "day": {"missing": 1}}
    assert r.json["violations"] == 6 and r.json["unexpected_columns"] == ["extra"]
    extra = [d for d in r.json["diagnostics"] if "not in the contract" in d["message"]]
    assert [d["severity"] for d in extra] == ["warning"]
    assert extra[0]["message"] == "people.parquet: 1 column(s) not in the contract: 'extra'"
    r = mlspec("check-data", "people", "--file", "people.parquet", "--strict", "--format", "json")
    assert r.json["violations"] == 7
    assert all(d["severity"] == "error" for d in r.json["diagnostics"])


def test_string_contract_refuses_numbers_in_typed_data(shop, mlspec):
    pq.write_table(pa.table({"id": [1, 2], "signup": pa.array([0, 1], pa.timestamp("s"))}), shop.root / "p.parquet")
    r = mlspec("check-data", "people", "--file", "p.parquet", "--format", "json")
    assert _by_rule(r)["id"] == {"type": 2}


@pytest.mark.parametrize("name", ["people.jsonl", "people.json", "people.jsonl.gz"])
def test_json_lines_and_json_arrays(shop, mlspec, name):
    import gzip

    rows = [
        {"id": "a", "age": 1, "score": 1.0, "signup": "2024-01-01T00:00:00+02:00"},
        {"id": "b", "age": "7", "score": "abc", "signup": "2024-01-02"},   # mixed types in age and score
        {"id": "c", "age": 3.5, "score": None, "signup": None},
    ]
    if name == "people.json":
        text = json.dumps(rows)
    else:
        text = "\n".join(json.dumps(x) for x in rows) + "\n"
    data = gzip.compress(text.encode()) if name.endswith(".gz") else text.encode()
    (shop.root / name).write_bytes(data)
    r = mlspec("check-data", "people", "--file", name, "--format", "json")
    assert r.exit_code == 1
    assert _by_rule(r) == {"age": {"type": 1}, "score": {"type": 1}, "signup": {"null": 1},
                           "plan": {"missing": 1}, "active": {"missing": 1}, "day": {"missing": 1}}


def test_folder_of_csv_files(shop, mlspec):
    shop.write("data/parts/a.csv", CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n")
    shop.write("data/parts/b.csv", CSV.splitlines()[0] + "\n" + CSV.splitlines()[2] + "\n")
    shop.write("data/parts/_SUCCESS", "")
    r = mlspec("check-data", "people", "--file", "data/parts", "--format", "json")
    assert r.json["rows"] == 2 and _by_rule(r) == {"age": {"min": 1}}


@pytest.mark.parametrize("content, message", [
    (None, "data/people.csv does not exist"),
    (b"PAR1 not really parquet", "cannot read"),
])
def test_unreadable_data_is_ms605(shop, mlspec, content, message):
    if content is not None:
        spec = shop.spec.read_text().replace("data/people.csv", "data/people.parquet")
        shop.write("mlproject.yaml", spec)
        (shop.root / "data").mkdir(exist_ok=True)
        (shop.root / "data/people.parquet").write_bytes(content)
    r = mlspec("check-data", "people", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS605"]
    assert message in r.json["diagnostics"][0]["message"]


def test_database_uri_and_unsupported_format(shop, mlspec):
    r = mlspec("check-data", "people", "--file", "postgresql://db/people")
    assert r.exit_code == 1 and "postgresql:// is not a file store" in r.stderr and "--file" in r.stderr
    shop.write("data.txt", "x")
    r = mlspec("check-data", "people", "--file", "data.txt")
    assert r.exit_code == 1 and "error[MS605]" in r.stderr


def test_usage_errors_exit_2(shop, mlspec):
    assert mlspec("check-data").exit_code == 2
    r = mlspec("check-data", "peple")
    assert r.exit_code == 2 and "did you mean 'people'?" in r.stderr
    assert mlspec("check-data", "a", "b", "c").exit_code == 2


def test_metrics_textfile(shop, mlspec, tmp_path):
    shop.write("data/people.csv", CSV)
    r = mlspec("check-data", "people", "--textfile", "m.prom")
    assert r.exit_code == 1
    text = (shop.root / "m.prom").read_text()
    assert 'mlspec_schema_violations{project="shop",source="people"} 11\n' in text
    assert 'mlspec_data_last_updated_timestamp_seconds{project="shop",source="people"} ' in text


def test_monitoring_schema_check_records_pipeline_drift(project, mlspec):
    """The generated monitor command: check-data SPEC customers --file <current uri>."""
    project.write("data/scoring.csv", "customer_id,tenure_months,monthly_charges,contract,churned\n"
                                      "a,1,2.0,weekly,true\n")
    r = mlspec("check-data", "mlproject.yaml", "customers", "--file", "data/scoring.csv")
    assert r.exit_code == 1
    state = json.loads((project.root / ".mlspec/monitoring/schema.json").read_text())
    assert state["event"] == "pipeline_drift" and state["status"] == "finding" and state["violations"] == 1
    assert state["source"] == "customers" and state["data_source"] == "scoring_log"


def test_file_naming_a_source_uri_is_found_from_any_folder(project, mlspec, monkeypatch):
    project.write("data/scoring.csv", "customer_id,tenure_months,monthly_charges,contract,churned\n"
                                      "a,1,2.0,monthly,true\n")
    (project.root / "elsewhere").mkdir()
    monkeypatch.chdir(project.root / "elsewhere")
    r = mlspec("check-data", "../mlproject.yaml", "customers", "--file", "data/scoring.csv", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["file"] == "../data/scoring.csv" and r.json["data_source"] == "scoring_log"
