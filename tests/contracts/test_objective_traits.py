"""Reports name no objective: every objective class declares how reports place it (label,
reference curve, gamma, order, colour, marker), training writes that into ``config.json["traits"]``,
older runs get it from ``runs/legacy.py`` (the one table naming the old objectives), and the
torch-free ``reports/`` read it from there; no string in ``reports/`` spells an objective's name."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from cmivae import registry
from cmivae.objectives.base import Objective
from cmivae.registry import METRICS, OBJECTIVES
from cmivae.runs import files, legacy
from cmivae.runs.directory import objective_traits

REPORTS = Path(__file__).resolve().parents[2] / "src" / "cmivae" / "reports"
# The transcription of the paper's Tables 1-5: its rows say which of our objectives each paper
# method is (published numbers, data rather than behaviour).
PAPER_TRANSCRIPTION = "paper_results.py"
TYPES = {files.OBJECTIVE_LABEL: str, files.REFERENCE_CURVE: bool, files.USES_GAMMA: bool,
         files.REPORT_RANK: int, files.PLOT_COLOR: str, files.PLOT_MARKER: str}


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_objective_declares_what_reports_read(name: str) -> None:
    traits = objective_traits(name)
    assert set(traits) == set(files.OBJECTIVE_TRAIT_KEYS) == set(TYPES)
    assert {key: type(value) for key, value in traits.items()} == TYPES
    assert traits[files.OBJECTIVE_LABEL]
    if name in legacy._OBJECTIVE_TRAITS:  # its committed runs (no traits record) read the same from the legacy table
        assert legacy.legacy_objective_traits(name) == traits


def test_the_reference_curve_is_declared_and_gamma_weighted() -> None:
    """Same-KL comparisons need a curve: some objective is on it and weights KL(z) by gamma (beta-VAE)."""
    on_curve = [objective_traits(n) for n in OBJECTIVES if objective_traits(n)[files.REFERENCE_CURVE]]
    assert any(t[files.USES_GAMMA] for t in on_curve)


def test_a_class_declaring_nothing_reads_as_the_legacy_defaults(monkeypatch) -> None:
    """The legacy table's defaults are the base class's: a run of a new objective whose record lacks a
    key (written before the key existed) reads as what its class declares."""
    class Bare(Objective):
        pass

    monkeypatch.setitem(registry.OBJECTIVES, "bare", Bare)
    assert objective_traits("bare") == legacy.legacy_objective_traits("bare")
    assert objective_traits("bare")[files.PLOT_COLOR] == ""  # a spare colour in figures


def _method_literals(source: str) -> list[str]:
    """``line: literal`` for each string constant equal to a registered objective name used as one: any
    such constant, except one that is also a metric name (``elbo``) used as a metric: it offends when
    compared with a method/name/objective or listed beside another objective name."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in OBJECTIVES):
            continue
        parent = parents.get(node)
        if node.value not in METRICS:
            offends = True
        elif isinstance(parent, ast.Compare):
            others = [parent.left, *parent.comparators]
            offends = any(word in ast.unparse(o) for o in others if o is not node
                          for word in ("method", "name", "objective"))
        elif isinstance(parent, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
            elements = parent.keys if isinstance(parent, ast.Dict) else parent.elts
            offends = any(isinstance(e, ast.Constant) and e is not node and e.value in OBJECTIVES for e in elements)
        else:
            offends = False
        if offends:
            found.append(f"{node.lineno}: {node.value!r}")
    return found


def test_the_literal_check_sees_method_names() -> None:
    assert _method_literals('ORDER = ("elbo", "beta", "mi", "cmi")') == [
        "1: 'elbo'", "1: 'beta'", "1: 'mi'", "1: 'cmi'"]
    assert _method_literals('gamma = 0.0 if name == "elbo" else gamma') == ["1: 'elbo'"]
    assert _method_literals('partners = [r for r in rows if r.method == "beta"]') == ["1: 'beta'"]
    assert _method_literals('COLORS = {"elbo": "tab:gray", "mws": "tab:red"}') == ["1: 'elbo'", "1: 'mws'"]
    # the metric "elbo" (results.json's test ELBO) is not a method
    assert _method_literals('x = metrics["elbo"] if "elbo" in metrics else None; y = {"elbo", "kl_s"}') == []


@pytest.mark.parametrize("path", sorted(p.name for p in REPORTS.glob("*.py") if p.name != PAPER_TRANSCRIPTION))
def test_reports_spell_no_objective_name(path: str) -> None:
    assert _method_literals((REPORTS / path).read_text()) == []


def test_reports_place_a_new_objective_by_its_traits(tmp_path: Path) -> None:
    """A run of an objective the reports never heard of is ordered, placed on (or off) the reference
    curve, coloured and labelled by the traits its config.json holds."""
    from cmivae.reports.collect import _method_rank, method_label, on_reference_curve, read_run
    from cmivae.reports.plots import SPARE_COLORS, declared_color, declared_marker, method_colors

    traits = {**legacy.legacy_objective_traits("hsic_traits_test"), files.OBJECTIVE_LABEL: "HSIC-VAE",
              files.REFERENCE_CURVE: True, files.USES_GAMMA: False, files.REPORT_RANK: -1,
              files.PLOT_COLOR: "tab:pink", files.PLOT_MARKER: "*"}
    config = {"data": {"name": "mnist"}, "model": {"name": "pixelcnn_vae"}, "train": {"seed": 3},
              "objective": {"name": "hsic_traits_test", "gamma": 0.4}}
    (tmp_path / files.CONFIG).write_text(json.dumps({"config": config, files.TRAITS: traits}))
    row = read_run(tmp_path)
    assert row is not None and row.method == "hsic_traits_test"
    assert row.gamma == 0.0  # it declares that it ignores gamma
    assert _method_rank("hsic_traits_test") < _method_rank("elbo")
    assert on_reference_curve("hsic_traits_test") and not on_reference_curve("hsic_traits_test+alpha=2")
    assert method_label("hsic_traits_test") == "HSIC-VAE"
    assert (declared_color("hsic_traits_test"), declared_marker("hsic_traits_test")) == ("tab:pink", "*")
    assert method_colors(["hsic_traits_test", "beta+alpha=2", "unheard_of"], SPARE_COLORS) == {
        "hsic_traits_test": "tab:pink", "beta+alpha=2": SPARE_COLORS[0], "unheard_of": SPARE_COLORS[1]}
