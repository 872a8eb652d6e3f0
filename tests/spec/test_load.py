"""Reading a project file: every bad input gives a SpecError that says where, what and what to do.

``aiforge.spec`` checks the file's shape; ``aiforge.pipeline.load_project`` adds the checks that
need the registries (learner names, metric names, metrics that do not apply to the task).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from aiforge.errors import SpecError
from aiforge.pipeline import check_metrics_for_task, load_project
from aiforge.spec import CsvSource, ProjectSpec, TaskKind, load_project_file, parse_project_text

# Line numbers below refer to this text; each case edits one line of it.
VALID = """\
name: income
problem:
  task: binary
  target: income
  positive_class: ">50K"
kpis:
  - {metric: roc_auc, min: 0.8}
data:
  sources:
    - {name: census, type: csv, path: data/adult.csv}
  split: {test_size: 0.25, seed: 7}
model:
  learners: [linear, lightgbm]
  search: {cv: 3}
  seed: 7
"""
FILE = Path("proj") / "aiforge.yaml"


def edit(old: str, new: str, text: str = VALID) -> str:
    """``text`` with ``old`` replaced once; fails loudly if ``old`` is not there (a stale case)."""
    assert text.count(old) == 1, f"{old!r} should occur once in the base text"
    return text.replace(old, new)


def spec_error(text: str, path: Path = FILE) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_project_text(text, path)
    return info.value


def written(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "aiforge.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- the file's shape (aiforge.spec) -------------------------------------------------------------

# (case id, text, message regex, where regex, hint regex or None)
SHAPE_CASES = [
    pytest.param(
        VALID + "modle: {}\n",
        r"^unknown key 'modle'$", r"aiforge\.yaml:16 \(modle\)$",
        r"did you mean 'model'\?.*valid keys here: checks, ci, data, decision, deploy, kpis, model, monitor, name, "
        r"problem, schedules, workspace$",
        id="unknown-top-level-key",
    ),
    pytest.param(
        edit("  seed: 7\n", "  sed: 7\n"),
        r"^unknown key 'sed'$", r"aiforge\.yaml:15 \(model\.sed\)$",
        r"did you mean 'seed'\?.*valid keys here: adversarial, augment, compare, compress, ensemble, learners, n_jobs, "
        r"privacy, refit_full, resample, search, seed, seq2seq, threshold, transformer$",
        id="unknown-nested-key",
    ),
    pytest.param(
        edit("{test_size: 0.25, seed: 7}", "{test_size: 0.25, seed: 7, stratfy: true}"),
        r"^unknown key 'stratfy'$", r"aiforge\.yaml:11 \(data\.split\.stratfy\)$",
        r"did you mean 'stratify'\?.*valid keys here: seed, stratify, test_size$",
        id="unknown-key-two-levels-down",
    ),
    pytest.param(
        edit("path: data/adult.csv}", "path: data/adult.csv, delimter: ';'}"),
        r"^unknown key 'delimter'$", r"aiforge\.yaml:10 \(data\.sources\[0\]\.delimter\)$",
        r"did you mean 'delimiter'\?.*valid keys here: delimiter, incremental, name, path, type$",
        id="unknown-key-in-list-item",
    ),
    pytest.param(
        VALID + "serving: {}\n",
        r"^unknown key 'serving'$", r"aiforge\.yaml:16 \(serving\)$",
        r"^valid keys here: checks, ci, data, decision, deploy, kpis, model, monitor, name, problem, schedules, "
        r"workspace$",
        id="unknown-key-without-close-match",
    ),
    pytest.param(
        edit("task: binary", "task: binray"),
        r"^'problem\.task' has an invalid value$", r"aiforge\.yaml:3 \(problem\.task\)$",
        r"use one of the listed values", id="invalid-task",
    ),
    pytest.param(
        edit("{cv: 3}", '{cv: "five"}'),
        r"^cv must be a number of folds from 2 to 20, or auto$",
        r"aiforge\.yaml:14 \(model\.search\.cv\)$", None, id="wrong-type-int",
    ),
    pytest.param(
        edit("{cv: 3}", "{cv: 1}"),
        r"^cv must be a number of folds from 2 to 20, or auto$",
        r"aiforge\.yaml:14 \(model\.search\.cv\)$", None, id="out-of-range-int",
    ),
    pytest.param(
        edit("test_size: 0.25", "test_size: 1.5"),
        r"^'data\.split\.test_size' is invalid", r"aiforge\.yaml:11 \(data\.split\.test_size\)$",
        None, id="out-of-range-float",
    ),
    pytest.param(
        edit("learners: [linear, lightgbm]", "learners: linear"),
        r"^'model\.learners' is invalid: input should be a valid list$",
        r"aiforge\.yaml:13 \(model\.learners\)$", None, id="wrong-type-list",
    ),
    pytest.param(
        edit("name: income", "name: Income Model"),
        r"^'name' is invalid: string should match pattern", r"aiforge\.yaml:1 \(name\)$", None,
        id="invalid-project-name",
    ),
    pytest.param(
        edit("name: income", "name: 123"),
        r"^'name' is invalid: input should be a valid string$", r"aiforge\.yaml:1 \(name\)$", None,
        id="project-name-not-a-string",
    ),
    pytest.param(
        edit("task: binary", "task: regression"),
        r"^positive_class only applies to binary tasks, but task is 'regression'; "
        r"remove positive_class or set task: binary$",
        r"aiforge\.yaml:\d+ \(problem", None, id="positive-class-with-regression",
    ),
    pytest.param(
        edit("task: binary", "task: multiclass"),
        r"^positive_class only applies to binary tasks, but task is 'multiclass'", r"\(problem", None,
        id="positive-class-with-multiclass",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: roc_auc}"),
        r"^KPI 'roc_auc' needs a bound: add min: or max:$", r"aiforge\.yaml:7 \(kpis\[0\]\)$", None,
        id="kpi-without-bound",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: roc_auc, min: 0.9, max: 0.1}"),
        r"^KPI 'roc_auc' has min 0\.9 above max 0\.1$", r"aiforge\.yaml:7 \(kpis\[0\]\)$", None,
        id="kpi-min-above-max",
    ),
    pytest.param(
        edit("  target: income\n", ""),
        r"^required field 'target' is missing$", r"aiforge\.yaml:2 \(problem\.target\)$",
        r"add 'target:'", id="missing-required-field",
    ),
    pytest.param(
        edit("type: csv", "type: xls"),
        r"^unknown source type .*'xls'", r"aiforge\.yaml:10 \(data\.sources\[0\]", r"'type:'",
        id="unknown-source-type",
    ),
    pytest.param(
        edit("type: csv, ", ""),
        r"^source needs a 'type:' key$", r"aiforge\.yaml:10 \(data\.sources\[0\]\)$", r"type: csv",
        id="source-without-type",
    ),
    pytest.param(
        edit("    - {name: census, type: csv, path: data/adult.csv}\n", "",
             edit("sources:\n", "sources: []\n")),
        r"^'data\.sources' is invalid: list should have at least 1 item",
        r"aiforge\.yaml:9 \(data\.sources\)$", None, id="no-sources",
    ),
    pytest.param(
        edit("type: csv, path: data/adult.csv", 'type: http, url: "http://h/x", pagination: {type: offset}'),
        r"^unknown pagination type 'offset'$", r"aiforge\.yaml:10 \(data\.sources\[0\]\.pagination\.type\)$",
        r"type: cursor", id="unknown-pagination-type",
    ),
    pytest.param(
        edit("type: csv, path: data/adult.csv", 'type: http, url: "http://h/x", pagination: {type: page, '
             "size_param: n}"),
        r"^size_param needs page_size", r"aiforge\.yaml:10 \(data\.sources\[0\]\.pagination\)$", None,
        id="pagination-size-without-page-size",
    ),
    pytest.param(
        edit("type: csv, path: data/adult.csv", 'type: redis, url: "redis://h", stream: s, group: g, '
             "fields: {a: decimal}"),
        r"^'data\.sources\[0\]\.fields\.a' has an invalid value$",
        r"aiforge\.yaml:10 \(data\.sources\[0\]\.fields\.a\)$", None, id="redis-field-type",
    ),
]


@pytest.mark.parametrize(("text", "message", "where", "hint"), SHAPE_CASES)
def test_bad_shape_is_located(text: str, message: str, where: str, hint: str | None) -> None:
    err = spec_error(text)
    assert err.code == "spec"
    assert err.exit_code == 2
    assert len(err.problems) == 1, err.render()
    assert re.search(message, err.message), err.message
    assert err.where is not None
    assert err.where.startswith(str(FILE))
    assert re.search(where, err.where), err.where
    if hint is not None:
        assert err.hint is not None
        assert re.search(hint, err.hint), err.hint
    # the rendered form carries the same facts, under a stable prefix
    rendered = err.render()
    assert rendered.startswith("error[spec]: ")
    assert err.where in rendered


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("name: income\nproblem: [\n", r"aiforge\.yaml:3:1$", id="unclosed-flow-sequence"),
        pytest.param(edit("  target: income", "   target: income"), r"aiforge\.yaml:4:\d+$",
                     id="bad-indentation"),
        pytest.param(edit("  task: binary", "\ttask: binary"), r"aiforge\.yaml:3:1$", id="tab-indentation"),
        pytest.param(edit('">50K"', '">50K'), r"aiforge\.yaml:\d+:\d+$", id="unclosed-quote"),
    ],
)
def test_malformed_yaml_gives_file_line_and_column(text: str, where: str) -> None:
    err = spec_error(text)
    assert err.message == "project file is not valid YAML"
    assert err.where is not None and re.search(where, err.where), err.where
    assert err.where.startswith(str(FILE))
    assert err.found  # the parser's own words, e.g. "mapping values are not allowed here"
    assert err.hint is not None and "indentation" in err.hint
    assert isinstance(err.__cause__, yaml.YAMLError)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param("", r"^an empty file$", id="empty"),
        pytest.param("# only a comment\n\n", r"^an empty file$", id="only-comments"),
        pytest.param("- name: income\n- problem: {}\n", r"^a list$", id="list"),
        pytest.param("just some words\n", r"^a str$", id="scalar"),
    ],
)
def test_file_that_is_not_a_mapping(text: str, found: str) -> None:
    err = spec_error(text)
    assert err.message == "project file must be a mapping of sections"
    assert err.where == str(FILE)
    assert err.found is not None and re.search(found, err.found)
    assert err.hint is not None and "aiforge init" in err.hint


def test_every_problem_in_a_file_is_reported() -> None:
    text = edit("name: income", "name: BAD")
    text = edit("{metric: roc_auc, min: 0.8}", "{metric: roc_auc}", text)
    text = edit("{cv: 3}", '{cv: "five"}', text)
    text += "modle: {}\n"
    err = spec_error(text)
    by_message = {p.message.split(":")[0]: p.where for p in err.problems}
    assert len(err.problems) == 4, err.render()
    assert by_message == {
        "'name' is invalid": f"{FILE}:1 (name)",
        "KPI 'roc_auc' needs a bound": f"{FILE}:7 (kpis[0])",
        "cv must be a number of folds from 2 to 20, or auto": f"{FILE}:14 (model.search.cv)",
        "unknown key 'modle'": f"{FILE}:16 (modle)",
    }
    rendered = err.render()
    assert "3 more problem(s):" in rendered
    assert all(p.message in rendered for p in err.problems)
    as_json = err.to_dict()
    assert as_json["code"] == "spec"
    assert [p["message"] for p in as_json["problems"]] == [p.message for p in err.problems]  # type: ignore[index,union-attr]


# --- reading the file from disk (aiforge.spec.load_project_file) ---------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "aiforge.yaml"
    with pytest.raises(SpecError, match=r"^error\[spec\]: project file not found") as info:
        load_project_file(missing)
    assert info.value.where == str(missing)
    assert info.value.hint is not None and "aiforge init" in info.value.hint


def test_folder_without_project_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"project path is a folder without aiforge\.yaml") as info:
        load_project_file(tmp_path)
    assert info.value.where == str(tmp_path)


def test_folder_with_project_file_reads_it(tmp_path: Path) -> None:
    path = written(tmp_path, VALID)
    project = load_project_file(tmp_path)
    assert project.path == path
    assert project.spec.name == "income"


@pytest.mark.parametrize(
    ("raw", "line", "byte"),
    [
        pytest.param(VALID.replace("income", "caf\xe9", 1).encode("latin-1"), 1, "0xe9", id="latin-1-line-1"),
        pytest.param(edit("  seed: 7\n", "  seed: 7  # \xe9t\xe9\n").encode("latin-1"), 15, "0xe9",
                     id="latin-1-comment"),
        pytest.param(b"\xff\xfe" + VALID.encode("utf-16-le"), 1, "0xff", id="utf-16"),
    ],
)
def test_non_utf8_file(tmp_path: Path, raw: bytes, line: int, byte: str) -> None:
    path = written(tmp_path, raw)
    with pytest.raises(SpecError, match=r"project file is not valid UTF-8") as info:
        load_project_file(path)
    err = info.value
    assert err.where == f"{path}:{line}"
    assert err.found is not None and err.found.startswith(f"byte {byte} at offset ")
    assert err.hint == "save the file as UTF-8"
    assert isinstance(err.__cause__, UnicodeDecodeError)


def test_empty_file_on_disk(tmp_path: Path) -> None:
    path = written(tmp_path, b"")
    with pytest.raises(SpecError, match=r"project file must be a mapping of sections") as info:
        load_project_file(path)
    assert info.value.where == str(path)
    assert info.value.found == "an empty file"


def test_valid_file_round_trip(tmp_path: Path) -> None:
    path = written(tmp_path, VALID)
    project = load_project_file(str(path))
    assert project.path == path
    assert project.base_dir == tmp_path
    assert project.text == VALID
    spec = project.spec
    assert spec.name == "income"
    assert spec.problem.task is TaskKind.BINARY
    assert spec.problem.target == "income"
    assert spec.problem.positive_class == ">50K"
    assert [(k.metric, k.min, k.max) for k in spec.kpis] == [("roc_auc", 0.8, None)]
    assert spec.data.sources == [CsvSource(type="csv", name="census", path="data/adult.csv")]
    assert (spec.data.split.test_size, spec.data.split.seed, spec.data.split.stratify) == (0.25, 7, True)
    assert spec.model.learners == ["linear", "lightgbm"]
    assert spec.model.search.cv == 3
    assert spec.model.seed == 7
    assert spec.checks.importance.enabled  # a default
    # where each field was written, for later errors (e.g. data checks)
    assert project.where(("problem", "target")) == f"{path}:4 (problem.target)"
    assert project.where(("model", "learners", 1)) == f"{path}:13 (model.learners[1])"
    assert project.where(("data", "sources", 0, "path")) == f"{path}:10 (data.sources[0].path)"
    # a field that was not written falls back to its nearest written parent
    assert project.where(("model", "search", "budget")) == f"{path}:14 (model.search.budget)"
    # the dumped spec validates back to the same spec, and re-parses to the same hash
    assert ProjectSpec.model_validate(spec.model_dump(mode="json")) == spec
    again = parse_project_text(yaml.safe_dump(spec.model_dump(mode="json")), path)
    assert again.spec == spec
    assert again.sha256 == project.sha256


# --- the content hash ----------------------------------------------------------------------------

RELAID = """\
# The same project, written differently: comments, key order, flow style, quoting, explicit defaults.
model: {search: {cv: 3}, seed: 7, learners: [linear, lightgbm]}   # the candidates
data:
  split:
    seed: 7
    test_size: 0.25
    stratify: true      # the default, written out
  sources:
  - name: census
    type: csv
    path: "data/adult.csv"
kpis: [{min: 0.8, metric: roc_auc}]
problem: {target: income, positive_class: '>50K', task: binary}
name: 'income'
"""


def test_sha256_ignores_comments_and_layout() -> None:
    first = parse_project_text(VALID, FILE)
    second = parse_project_text(RELAID, FILE)
    assert first.text != second.text
    assert second.spec == first.spec
    assert second.sha256 == first.sha256
    assert re.fullmatch(r"[0-9a-f]{64}", first.sha256)


def test_sha256_does_not_depend_on_the_path() -> None:
    assert parse_project_text(VALID, FILE).sha256 == parse_project_text(VALID, Path("elsewhere.yaml")).sha256


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("  seed: 7\n", "  seed: 8\n", id="seed"),
        pytest.param("min: 0.8", "min: 0.81", id="kpi-bound"),
        pytest.param("[linear, lightgbm]", "[lightgbm, linear]", id="learner-order"),
        pytest.param("name: income", "name: income2", id="name"),
        pytest.param("  seed: 7\n", "  seed: 7\nchecks: {importance: {enabled: false}}\n",
                     id="added-section"),
    ],
)
def test_sha256_changes_with_content(old: str, new: str) -> None:
    assert parse_project_text(edit(old, new), FILE).sha256 != parse_project_text(VALID, FILE).sha256


# --- names checked against the registries (aiforge.pipeline.load_project) ------------------------

REGISTRY_CASES = [
    pytest.param(
        edit("[linear, lightgbm]", "[linear, lightgmb]"),
        r"^unknown learner 'lightgmb'$", r"aiforge\.yaml:13 \(model\.learners\[1\]\)$",
        r"^one of cnn, dp_linear, extra_trees, hist_gradient_boosting, knn, lightgbm, linear, mlp, random_forest, "
        r"seq2seq, tfidf, transformer, xgboost$",
        r"^did you mean 'lightgbm'\?$",
        id="unknown-learner",
    ),
    pytest.param(
        edit("[linear, lightgbm]", "[tabpfn]"),
        r"^unknown learner 'tabpfn'$", r"aiforge\.yaml:13 \(model\.learners\[0\]\)$",
        r"hist_gradient_boosting, knn, lightgbm, linear, mlp, random_forest", r"^use one of the listed names$",
        id="unknown-learner-without-close-match",
    ),
    pytest.param(
        edit("[linear, lightgbm]", "[linear, lightgbm, linear]"),
        r"^learner 'linear' is listed twice$", r"aiforge\.yaml:13 \(model\.learners\[2\]\)$",
        None, r"^list each learner once$", id="learner-listed-twice",
    ),
    pytest.param(
        edit("metric: roc_auc", "metric: roc_acu"),
        r"^unknown metric 'roc_acu'$", r"aiforge\.yaml:7 \(kpis\[0\]\.metric\)$",
        r"^one of accuracy, .*roc_auc", r"^did you mean 'roc_auc'\?$", id="unknown-kpi-metric",
    ),
    pytest.param(
        edit("{cv: 3}", "{cv: 3, metric: aucroc}"),
        r"^unknown metric 'aucroc'$", r"aiforge\.yaml:14 \(model\.search\.metric\)$",
        r"roc_auc", None, id="unknown-search-metric",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: rmse, max: 10}"),
        r"^metric 'rmse' does not apply to a binary task$", r"aiforge\.yaml:7 \(kpis\[0\]\.metric\)$",
        r"^a binary metric: .*roc_auc", r"check problem\.task", id="rmse-with-binary",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: r2, min: 0.5}"),
        r"^metric 'r2' does not apply to a binary task$", r"aiforge\.yaml:7 \(kpis\[0\]\.metric\)$",
        r"^a binary metric:", None, id="r2-with-binary",
    ),
    pytest.param(
        edit("{cv: 3}", "{cv: 3, metric: mae}"),
        r"^metric 'mae' does not apply to a binary task$", r"aiforge\.yaml:14 \(model\.search\.metric\)$",
        r"^a binary metric:", None, id="search-metric-with-binary",
    ),
    pytest.param(
        edit('  positive_class: ">50K"\n', "", edit("task: binary", "task: regression")),
        r"^metric 'roc_auc' does not apply to a regression task$", r"aiforge\.yaml:6 \(kpis\[0\]\.metric\)$",
        r"^a regression metric: .*rmse", None, id="roc-auc-with-regression",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: f1, min: 0.8, sensitive: sex}"),
        r"^KPI 'f1' is not measured per sensitive attribute", r"aiforge\.yaml:7 \(kpis\[0\]\.sensitive\)$",
        None, r"remove 'sensitive:'", id="sensitive-on-a-model-metric",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: demographic_parity_difference, max: 0.1}"),
        r"^KPI 'demographic_parity_difference' is measured per sensitive attribute, but names none",
        r"aiforge\.yaml:7 \(kpis\[0\]\)$", None, r"sensitive: sex", id="fairness-kpi-without-attribute",
    ),
    pytest.param(
        edit("{metric: roc_auc, min: 0.8}", "{metric: attack_success_rate, max: 0.1}")
        + "checks: {robustness: {enabled: false}}\n",
        r"^KPI 'attack_success_rate' needs the robustness check, which is disabled",
        r"aiforge\.yaml:7 \(kpis\[0\]\.metric\)$", None, r"checks\.robustness\.enabled", id="kpi-on-disabled-check",
    ),
]


@pytest.mark.parametrize(("text", "message", "where", "expected", "hint"), REGISTRY_CASES)
def test_unknown_or_misapplied_names(
    tmp_path: Path, text: str, message: str, where: str, expected: str | None, hint: str | None
) -> None:
    path = written(tmp_path, text)
    load_project_file(path)  # the file's shape is fine: only the registries know these names
    with pytest.raises(SpecError) as info:
        load_project(path)
    err = info.value
    assert len(err.problems) == 1, err.render()
    assert re.search(message, err.message), err.message
    assert err.where is not None and err.where.startswith(str(path))
    assert re.search(where, err.where), err.where
    if expected is not None:
        assert err.expected is not None and re.search(expected, err.expected), err.expected
    if hint is not None:
        assert err.hint is not None and re.search(hint, err.hint), err.hint


def test_load_project_reports_every_registry_problem(tmp_path: Path) -> None:
    text = edit("[linear, lightgbm]", "[linear, lightgmb, linear]")
    more_kpis = "  - {metric: rmse, max: 3}\n  - {metric: acuracy, min: 0.7}\n"
    text = edit("  - {metric: roc_auc, min: 0.8}\n", "  - {metric: roc_auc, min: 0.8}\n" + more_kpis, text)
    path = written(tmp_path, text)
    err = pytest.raises(SpecError, load_project, path).value
    found = sorted((p.message, p.where) for p in err.problems)
    assert found == sorted([
        ("unknown learner 'lightgmb'", f"{path}:15 (model.learners[1])"),
        ("learner 'linear' is listed twice", f"{path}:15 (model.learners[2])"),
        ("unknown metric 'acuracy'", f"{path}:9 (kpis[2].metric)"),
        ("metric 'rmse' does not apply to a binary task", f"{path}:8 (kpis[1].metric)"),
    ]), err.render()


def test_load_project_passes_a_valid_file(tmp_path: Path) -> None:
    path = written(tmp_path, VALID)
    project = load_project(path)
    assert project.spec == load_project_file(path).spec


def test_task_auto_defers_the_metric_check_until_the_task_is_known(tmp_path: Path) -> None:
    text = edit('  positive_class: ">50K"\n', "", edit("task: binary", "task: auto"))
    text = edit("{metric: roc_auc, min: 0.8}", "{metric: rmse, max: 10}", text)
    project = load_project(written(tmp_path, text))  # the task is not known yet: no error
    check_metrics_for_task(project, TaskKind.REGRESSION)
    with pytest.raises(SpecError, match=r"metric 'rmse' does not apply to a binary task") as info:
        check_metrics_for_task(project, TaskKind.BINARY)
    assert info.value.where == f"{project.path}:6 (kpis[0].metric)"


def test_spec_problems_come_before_registry_checks(tmp_path: Path) -> None:
    """A file with a shape error is reported by the spec layer; names are checked only on a valid shape."""
    text = edit("[linear, lightgbm]", "[lightgmb]", VALID + "modle: {}\n")
    err = pytest.raises(SpecError, load_project, written(tmp_path, text)).value
    assert [p.message for p in err.problems] == ["unknown key 'modle'"]


def test_duplicate_key_is_an_error_naming_both_lines() -> None:
    text = VALID + "problem:\n  target: age\n"
    err = spec_error(text)
    assert err.message == "key 'problem' is written twice"
    assert err.found is not None and "first on line" in err.found


def test_unknown_source_type_names_only_the_type() -> None:
    err = spec_error(edit("type: csv", "type: xls"))
    assert err.message == "unknown source type 'xls'"
    assert err.found == "xls" and err.where is not None and "(data.sources[0].type)" in err.where
