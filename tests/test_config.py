from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advq_cli.config import load_config_file, parse_eps, parse_fraction, parse_int_list, resolve, to_yaml
from advq_cli.errors import AdvqError
from advq_cli.profiling import ProfileConfig
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
    for parser, inside in ((parse_eps, lambda r: 0.0 <= r <= 1.0), (parse_fraction, lambda r: 0.0 < r < 1.0)):
        try:
            result = parser(value)
        except AdvqError:
            continue
        assert isinstance(result, float) and inside(result)


NUMBER_TEXT = st.from_regex(r"\A ?[+-]?(\d{1,5}(\.\d{0,3})?|\.\d{1,3})([eE][+-]?\d{1,4})? ?\Z")


@settings(max_examples=300, deadline=None)
@given(NUMBER_TEXT, st.one_of(st.none(), NUMBER_TEXT))
def test_eps_text_is_the_exact_fraction_or_an_advq_error(numerator: str, denominator: str | None):
    """`a/b` and `a` parse to the correctly rounded value of the decimal fraction, or are refused."""
    text = numerator if denominator is None else f"{numerator}/{denominator}"
    try:
        result = parse_eps(text)
    except AdvqError:
        return
    exact = Fraction(numerator.strip()) / (1 if denominator is None else Fraction(denominator.strip()))
    assert result == float(exact) and 0.0 <= result <= 1.0


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))


@settings(max_examples=300, deadline=None)
@given(st.one_of(SCALARS, st.lists(SCALARS, max_size=5), st.lists(st.integers(-3, 300), max_size=6)))
def test_parse_int_list_gives_ascending_distinct_naturals_or_an_advq_error(value):
    try:
        result = parse_int_list(value, "--milestones")
    except AdvqError:
        return
    assert all(type(n) is int and n >= 0 for n in result) and result == sorted(set(result))


OPTION_KEYS = st.sampled_from([
    "epochs", "lr", "eps", "step-size", "batch_size", "milestones", "seed", "steps", "eval-examples", "resume",
    "model-options", "method_options", "lambda", "--beta", "subset", "repeats", "min-perturbation-max", "epoch",
])
YAML_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.dictionaries(OPTION_KEYS, YAML_VALUES, max_size=6).map(lambda d: yaml.safe_dump(d).encode()),
    st.text(max_size=60).map(str.encode),
    st.binary(max_size=40),
))
def test_any_config_file_gives_a_valid_config_or_an_advq_error(tmp_path: Path, content: bytes):
    """Whatever the file holds: the documented properties of the resolved options, or one AdvqError."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content)
    try:
        cfg = resolve(ProfileConfig, load_config_file(path), {"device": "cpu"})
    except AdvqError as exc:
        assert "\n" not in str(exc)
        return
    assert cfg.epochs >= 1 and cfg.batch_size >= 1 and cfg.steps >= 0 and cfg.repeats >= 1
    assert 0 <= cfg.eps <= 1 and 0 <= cfg.step_size <= 1 and 0 < cfg.min_perturbation_max <= 1
    assert cfg.lr > 0 and cfg.milestones == sorted(set(cfg.milestones)) and all(m >= 0 for m in cfg.milestones)
    assert isinstance(cfg.model_options, dict) and isinstance(cfg.method_options, dict)


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


@pytest.mark.parametrize("text", ["- a\n- b\n", "epochs: [\n", "epochs: many\n", "!!python/object/apply:os.system ['true']\n",
                                  "milestones: " + "[" * 1200 + "\n"])
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
