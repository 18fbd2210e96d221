"""`advq explain report` on a small real digits profile: the page's numbers recomputed from the
HDF5 files, its pictures decoded back to the dataset's pixels, the refusals, and the page
itself driven in headless Chromium as a person would use it."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.curation import CurateConfig, curate
from advq_cli.lookups import get_dataset
from advq_cli.errors import AdvqError, FingerprintMismatchError, OutputLockedError
from advq_cli.evaluation import EvaluateConfig, evaluate
from advq_cli.explaining.html_report import ReportConfig, explain_report
from advq_cli.explaining.page_data import MAX_DRAWS, agreement_growth, disjoint_splits
from advq_cli.explaining.stats import sample
from advq_cli.locking import exclusive
from advq_cli.profiling import ProfileConfig, profile
from advq_cli.training import TrainConfig, train

TRAIN = dict(dataset="digits", model="mlp", method="pgd-at", eps=0.1, steps=3, step_size=0.04, milestones=[], device="cpu")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A digits profile of two runs holding two curated subsets, and the evaluation of a model
    trained on one of them (about 20 s on one free core)."""
    folder = tmp_path_factory.mktemp("report")
    path = folder / "digits.h5"
    profile(ProfileConfig(out=path, seed=0, epochs=4, repeats=2, eval_examples=0, min_perturbation_max=16 / 255, **TRAIN))
    curate(CurateConfig(profile=path, remove_lowest=0.2, name="best80", baseline="random"))
    run = train(TrainConfig(**TRAIN, epochs=1, seed=0, subset=f"{path}:best80", eval_examples=0, out=folder / "best80"))
    evaluation = evaluate(EvaluateConfig(
        checkpoint=run.out / "best.pt", attacks=["pgd-10", "autoattack"], n_examples=20, device="cpu",
        out=folder / "best80-evaluation.h5",
    )).out
    return {"profile": path, "checkpoint": folder / "digits.h5.runs" / "seed-0" / "best.pt", "evaluation": evaluation}


@pytest.fixture(scope="module")
def report(stored: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    return explain_report(ReportConfig(
        profile=stored["profile"], out=out, checkpoint=stored["checkpoint"], evaluations=[stored["evaluation"]],
        per_class=3, device="cpu",
    ))


def embedded(path: Path) -> dict:
    """The document the page's script reads, parsed from the page."""
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="advq-data">(.*?)</script>', text, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def pixels(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        return np.asarray(image)


def runs_of(path: Path, name: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {run: group[name][()] for run, group in handle["runs"].items()}


def test_the_page_holds_the_profile(report, stored: dict[str, Path]) -> None:
    text = report.out.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "Content-Security-Policy" in text
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=[\"']?(https?:)?//", text), "the page must fetch nothing"
    data = embedded(report.out)
    assert data == report.data
    with h5py.File(stored["profile"], "r") as handle:
        quality = {name: d[()] for name, d in handle["quality"].items()}
    bundle = get_dataset("digits")
    labels, rank = bundle.train_labels.numpy(), quality["problem_rank"]
    n = len(rank)

    summary = data["summary"]
    assert (summary["dataset"], summary["n_train"], summary["n_ranked"]) == ("digits", n, np.isfinite(rank).sum())
    assert summary["runs"] == ["seed-0", "seed-1"] and summary["method"] == "pgd-at" and summary["epochs"] == 4

    # run-to-run agreement: the two runs' problem ranks, and k = 1 of the growth is that same pair
    ranks = list(runs_of(stored["profile"], "measures/problem_rank").values())
    rho = spearmanr(ranks[0], ranks[1]).statistic
    assert data["agreement"]["matrix"][0][1] == pytest.approx(rho, abs=1e-12)
    assert data["agreement"]["growth"] == {"runs": [1], "rho": [pytest.approx(rho, abs=1e-12)], "draws": [1]}

    # every example is on the map (fewer than --max-points) and in the gallery, its measures rounded to 5 digits
    examples = data["examples"]
    assert examples["index"] == list(range(n)) and examples["label"] == labels.tolist()
    assert data["map"]["rows"] == list(range(n)) and data["map"]["drawable"] == n
    for name, values in quality.items():
        assert np.allclose(examples["measures"][name], values, rtol=1e-4, atol=0)

    # pictures: exactly the dataset's pixels
    for i in (0, n // 2, n - 1):
        assert np.array_equal(pixels(examples["image"][i]), bundle.train_images[i, 0].numpy())

    # epoch by epoch: how many of the two runs were right under the training attack
    correct = np.stack(list(runs_of(stored["profile"], "correct").values()))
    expected = ["".join(str(int(c)) for c in column) for column in (correct == 1).sum(axis=0).T]
    assert examples["epochs"] == expected and examples["runs"] == 2

    # per class: the quartiles over all ranked examples of the class
    spread = data["per_class"]["spread"]
    for c in range(10):
        members = rank[labels == c]
        assert [spread[k][c] for k in ("low", "q1", "median", "q3", "high")] == pytest.approx(
            np.percentile(members, [5, 25, 50, 75, 95]), abs=1e-12)
        assert spread["count"][c] == len(members)

    # measures: as `advq explain correlations` computes them
    by_name = {r["name"]: r for r in data["correlations"]}
    assert set(by_name) == set(quality) - {"problem_rank"}
    for name, r in by_name.items():
        assert r["rho"] == pytest.approx(spearmanr(quality[name], rank).statistic, abs=1e-12)

    # subsets and the evaluation of the model trained on one of them
    with h5py.File(stored["profile"], "r") as handle:
        sizes = {name: len(group["indices"]) for name, group in handle["subsets"].items()}
    assert {s["name"]: s["size"] for s in data["subsets"]} == sizes
    assert [s["rule"] for s in data["subsets"]] == ["remove-lowest", "random"]
    with h5py.File(stored["evaluation"], "r") as handle:
        accuracy = {name: g.attrs["accuracy"] for name, g in handle["attacks"].items()}
        clean = handle["clean"].attrs["accuracy"]
    (row,) = data["evaluations"]
    assert row["trained_on"] == "best80" and row["n_examples"] == 20 and row["clean"] == pytest.approx(clean)
    assert row["attacks"] == pytest.approx(accuracy)
    assert row["gap"] == pytest.approx(accuracy["pgd-10"] - accuracy["autoattack"])


def test_adversarial_counterparts_of_the_extremes(report) -> None:
    data = report.data
    examples, rank = data["examples"], np.array(data["examples"]["measures"]["problem_rank"], dtype=float)
    labels = np.array(examples["label"])
    expected = set()
    for c in range(10):
        members = np.flatnonzero(labels == c)
        order = members[np.argsort(rank[members], kind="stable")]
        expected |= set(order[:3]) | set(order[-3:])
    attacked = {row for row, uri in enumerate(examples["adversarial"]) if uri is not None}
    assert attacked == expected
    eps = data["examples"]["attack"]["eps"]
    assert eps == pytest.approx(0.2)
    for row in attacked:
        clean, adversarial = pixels(examples["image"][row]), pixels(examples["adversarial"][row])
        assert np.abs(clean.astype(int) - adversarial.astype(int)).max() <= np.ceil(eps * 255) + 1
        assert 0 <= examples["pred_adversarial"][row] < 10 and 0 <= examples["pred_clean"][row] < 10
    assert all(examples["pred_clean"][row] == -1 for row in set(range(len(labels))) - attacked)


def test_a_large_profile_is_sampled(stored: dict[str, Path], tmp_path: Path) -> None:
    result = explain_report(ReportConfig(profile=stored["profile"], out=tmp_path / "r.html", max_points=200, per_class=2, seed=3))
    data = result.data
    with h5py.File(stored["profile"], "r") as handle:
        rank = handle["quality/problem_rank"][()]
    rows = np.array(data["examples"]["index"])
    shown = rows[data["map"]["rows"]]
    assert np.array_equal(shown, sample(len(rank), 200, 3)) and data["map"]["drawable"] == len(rank)
    labels = get_dataset("digits").train_labels.numpy()
    ends = set()
    for c in range(10):
        members = np.flatnonzero(labels == c)
        order = members[np.argsort(rank[members], kind="stable")]
        ends |= set(order[:2]) | set(order[-2:])
    assert set(rows) == set(shown) | ends
    assert data["examples"]["attack"] is None and "adversarial" not in data["examples"]
    assert result.size < report_size_bound(len(rows))


def report_size_bound(pictures: int) -> int:
    """plotly.js (under 5 MB) and at most 1 kB per 8×8 picture with its numbers."""
    return 5_000_000 + 1_000 * pictures


def test_agreement_grows_with_the_runs_averaged(stored: dict[str, Path]) -> None:
    """Four runs (the profile's two, and two more made of them with a different tie order):
    k = 1 averages every pair of single runs, k = 2 the three ways to split four runs in two."""
    a, b = (r.astype(np.float64) for r in runs_of(stored["profile"], "measures/problem_rank").values())
    ranks = [a, b, (a + b) / 2, np.sqrt(a * b)]
    growth = agreement_growth(ranks, seed=0)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    assert growth.runs == [1, 2] and growth.draws == [6, 3]
    assert growth.rho[0] == pytest.approx(np.mean([spearmanr(ranks[i], ranks[j]).statistic for i, j in pairs]), abs=1e-12)
    halves = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    expected = [spearmanr(np.mean([ranks[i] for i in p], 0), np.mean([ranks[i] for i in q], 0)).statistic for p, q in halves]
    assert growth.rho[1] == pytest.approx(np.mean(expected), abs=1e-12)
    # beyond 20 ways to split, 20 seeded draws of two disjoint groups
    draws = disjoint_splits(12, 3, np.random.default_rng(0))
    assert len(draws) == MAX_DRAWS and all(len(p) == len(q) == 3 and not set(p) & set(q) for p, q in draws)
    assert draws == disjoint_splits(12, 3, np.random.default_rng(0))


def test_bad_input_is_refused_and_nothing_is_damaged(report, stored: dict[str, Path], tmp_path: Path) -> None:
    before = report.out.read_bytes()
    with pytest.raises(AdvqError, match="already exists; add --overwrite"):
        explain_report(ReportConfig(profile=stored["profile"], out=report.out))
    with pytest.raises(AdvqError, match="is a folder"):
        explain_report(ReportConfig(profile=stored["profile"], out=tmp_path))
    foreign = tmp_path / "foreign.h5"
    shutil.copy(stored["evaluation"], foreign)
    with h5py.File(foreign, "r+") as handle:
        handle.attrs["dataset_fingerprint"] = "0123456789abcdef"
    with pytest.raises(FingerprintMismatchError):
        explain_report(ReportConfig(profile=stored["profile"], out=report.out, overwrite=True, evaluations=[foreign]))
    with exclusive(report.out):  # another writer holds the page
        with pytest.raises(OutputLockedError, match="is being written by"):
            explain_report(ReportConfig(profile=stored["profile"], out=report.out, overwrite=True))
    assert report.out.read_bytes() == before and not list(report.out.parent.glob(".*.tmp"))

    out = CliRunner().invoke(app, ["explain", "report", str(stored["profile"]), "--out", str(report.out)])
    assert out.exit_code == 2
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and report.out.read_bytes() == before


def test_command_line(stored: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = CliRunner().invoke(app, [
        "explain", "report", str(stored["profile"]), "--out", str(out), "--max-points", "300", "--per-class", "1",
        "--evaluation", str(stored["evaluation"]), "--evaluation", str(stored["evaluation"]),
    ])
    assert result.exit_code == 0, result.output
    data = embedded(out)
    assert len(data["map"]["rows"]) == 300 and len(data["evaluations"]) == 2
    printed = " ".join(result.output.split())
    assert printed.startswith(f"Wrote {out} (5.") and "300 examples on the data map" in printed


def test_the_command_line_does_not_import_plotly_at_start() -> None:
    code = "import sys, advq_cli.cli; print('plotly' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# -- in a real browser ---------------------------------------------------------------------------


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium found: install Debian's `chromium` (.ci/run does)")
def test_the_page_in_headless_chromium(report, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    data = report.data
    examples = data["examples"]
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.out.as_uri())
            page.wait_for_function("window.advqReport !== undefined")

            # the data map draws one point per example (all 1437: fewer than --max-points)
            points = page.locator("#map-plot .scatterlayer .point")
            assert points.count() == len(data["map"]["rows"]) == 1437

            # hovering the most isolated point shows its picture, label and epoch strip
            page.locator("#map-plot").scroll_into_view_if_needed()
            centers = np.array(page.evaluate(
                "[...document.querySelectorAll('#map-plot .scatterlayer .point')].map(p => {"
                " const b = p.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; })"
            ))
            distances = np.linalg.norm(centers[:, None] - centers[None], axis=-1) + np.eye(len(centers)) * 1e9
            k = int(distances.min(axis=1).argmax())
            page.mouse.move(*centers[k])
            row = data["map"]["rows"][k]
            page.wait_for_function(f"document.querySelector('#detail h2').textContent === 'Example #{examples['index'][row]}'")
            image = page.locator("#detail img").first
            assert image.get_attribute("src") == examples["image"][row]
            assert page.evaluate("document.querySelector('#detail img').naturalWidth") == 8
            assert page.locator("#detail .strip span").count() == 4
            page.screenshot(path=tmp_path / "report-map.png")

            # the gallery pages through a class, sorted as asked
            gallery = page.locator("#gallery .card")
            def shown() -> list[int]:
                return [int(v) for v in gallery.evaluate_all("cards => cards.map(c => c.dataset.index)")]
            rank = np.array(examples["measures"]["problem_rank"])
            zeros = np.flatnonzero(np.array(examples["label"]) == 0)
            order = zeros[np.lexsort((zeros, -rank[zeros]))]
            assert shown() == order[:24].tolist()
            assert page.inner_text("#page-label") == f"page 1 of {-(-len(zeros) // 24)}"
            page.click("#page-next")
            assert shown() == order[24:48].tolist() and page.inner_text("#page-label").startswith("page 2 of")
            page.select_option("#gallery-class", "7")
            page.select_option("#gallery-measure", "true_prob")
            page.select_option("#gallery-order", "asc")
            sevens = np.flatnonzero(np.array(examples["label"]) == 7)
            prob = np.array(examples["measures"]["true_prob"])
            assert shown() == sevens[np.lexsort((sevens, prob[sevens]))][:24].tolist()
            assert page.inner_text("#page-label") == f"page 1 of {-(-len(sevens) // 24)}"

            # a box selection on the map exports its points' indices as .npy
            page.locator("#map-plot").scroll_into_view_if_needed()
            page.click("#map-plot .modebar-btn[data-val='select']")
            box = page.locator("#map-plot .nsewdrag").bounding_box()
            page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.2 * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.6 * box["height"], steps=10)
            page.mouse.up()
            page.wait_for_function("window.advqReport.state.selectionRange !== null")
            selected = page.evaluate("window.advqReport.state.selected")
            (x0, x1), (y0, y1) = (sorted(v) for v in page.evaluate("[window.advqReport.state.selectionRange.x,"
                                                                   " window.advqReport.state.selectionRange.y]"))
            x, y = (np.array(examples["measures"][data["map"][axis]], dtype=float) for axis in ("x", "y"))
            inside = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            assert len(selected) > 0 and selected == inside.tolist()
            with page.expect_download() as download:
                page.click("#download-selection")
            saved = tmp_path / "selected.npy"
            download.value.save_as(saved)
            indices = np.load(saved, allow_pickle=False)
            assert indices.dtype == np.int64 and indices.tolist() == selected
            page.screenshot(path=tmp_path / "report.png", full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width == 1400 and shot.height > 2000
    print(f"screenshots: {tmp_path / 'report-map.png'}, {tmp_path / 'report.png'}")


def test_the_size_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "report_size.py"
    out = tmp_path / "page.html"
    done = subprocess.run(
        [sys.executable, str(script), "--n", "400", "--runs", "2", "--epochs", "3", "--max-points", "100",
         "--per-class", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = embedded(out)
    assert len(data["map"]["rows"]) == 100 and data["summary"]["n_train"] == 400 and len(data["agreement"]["labels"]) == 2
    assert f"report: {out.stat().st_size / 1e6:.1f} MB" in done.stdout
    assert f"{len(data['examples']['image'])} pictures" in done.stdout
