from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advq_cli.config import load_config_file, parse_eps, parse_fraction, parse_int_list, resolve, to_yaml
from advq_cli.errors import AdvqError
from advq_cli.training import TrainConfig


@pytest.mark.parametrize(
    ("text", "value"),
    [("8/255", 8 / 255), ("0.0314", 0.0314), (" 16 / 255 ", 16 / 255), ("0", 0.0), ("1", 1.0), (0.5, 0.5), ("1e-2", 0.01)],
)
def test_parse_eps_accepts_fractions_and_decimals(text, value):
    assert parse_eps(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["8/0", "abc", "8/255/2", "", "-0.1", "2", "nan", "inf", "8//255", True, "0x10"])
def test_parse_eps_refuses_malformed_or_out_of_range(text):
    with pytest.raises(AdvqError):
        parse_eps(text)


@pytest.mark.parametrize("text", ["0", "1", "1.5", "-0.2"])
def test_parse_fraction_is_strictly_inside_zero_one(text):
    with pytest.raises(AdvqError):
        parse_fraction(text)
    assert parse_fraction("1/5") == pytest.approx(0.2)


def test_parse_int_list():
    assert parse_int_list("80,120") == [80, 120]
    assert parse_int_list([100, 110]) == [100, 110]
    assert parse_int_list("") == []
    for bad in ("120,80", "80,80", "a,b", "1.5", "-1"):
        with pytest.raises(AdvqError):
            parse_int_list(bad)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=12), st.floats(allow_nan=True), st.integers(), st.booleans()))
def test_parsers_only_ever_return_a_value_in_range_or_raise_advq_error(value):
    for parser in (parse_eps, parse_fraction):
        try:
            result = parser(value)
        except AdvqError:
            continue
        assert 0.0 <= result <= 1.0


def test_defaults_file_and_command_line_merge_in_order(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nbatch-size: 64\neps: 4/255\nlambda: 1.5\nmilestones: [3, 5]\n")
    cfg = resolve(TrainConfig, load_config_file(path), {"epochs": "9"})
    assert cfg.epochs == 9  # command line wins
    assert cfg.batch_size == 64 and cfg.milestones == [3, 5]  # file beats defaults
    assert cfg.eps == pytest.approx(4 / 255) and cfg.lambda_ == 1.5
    assert cfg.lr == 0.1 and cfg.step_size == pytest.approx(2 / 255)  # the paper's defaults


def test_resolved_config_round_trips_through_its_yaml(tmp_path: Path):
    cfg = resolve(TrainConfig, {}, {"eps": "8/255", "dataset": "digits", "lambda": 2.0})
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(cfg))
    assert resolve(TrainConfig, load_config_file(path), {}) == cfg


def test_unknown_key_is_refused_with_a_suggestion():
    with pytest.raises(AdvqError, match="did you mean '--epochs'"):
        resolve(TrainConfig, {"epoch": 3}, {})


@pytest.mark.parametrize("text", ["- a\n- b\n", "epochs: [\n", "epochs: many\n", "!!python/object/apply:os.system ['true']\n"])
def test_bad_config_files_are_one_line_errors(tmp_path: Path, text: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(AdvqError):
        resolve(TrainConfig, load_config_file(path), {})


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["epochs", "lr", "eps", "batch_size", "milestones", "seed", "steps", "bogus"]),
                       st.one_of(st.integers(-5, 500), st.floats(allow_nan=True), st.text(max_size=8), st.none(),
                                 st.lists(st.integers(-3, 200), max_size=3))))
def test_config_loader_fuzz_gives_config_or_advq_error(values):
    try:
        cfg = resolve(TrainConfig, values, {})
    except AdvqError:
        return
    assert cfg.epochs >= 1 and cfg.batch_size >= 1 and 0 <= cfg.eps <= 1
