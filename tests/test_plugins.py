import pytest

from advq_cli import hookimpl
from advq_cli.errors import DuplicateNameError, UnknownNameError
from advq_cli.plugins import KINDS, pm, register_plugin, registry, unregister_plugin
from advq_cli.models.small import make_mlp


class ExtraModel:
    __name__ = "extra-model-plugin"

    @hookimpl
    def advq_register_models(self, register):
        register("Extra_Net", make_mlp, description="an mlp under another name")


class ClashingModel:
    @hookimpl
    def advq_register_models(self, register):
        register("mlp", make_mlp, description="a second mlp")


@pytest.fixture
def plugin():
    names = []

    def add(obj, name):
        names.append(register_plugin(obj, name=name))

    yield add
    for name in names:
        unregister_plugin(name)


def test_every_hook_has_a_spec_and_every_kind_a_hook():
    specs = {name for name in dir(pm.hook) if name.startswith("advq_register_")}
    assert specs == {f"advq_register_{kind}" for kind in KINDS}


def test_builtins_register_through_the_hooks():
    assert {"digits", "fashion-mnist", "cifar10", "cifar100", "tiny-imagenet"} <= set(registry("datasets").names())
    assert {"mlp", "small-cnn", "preact-resnet18", "wrn", "vgg16"} <= set(registry("models").names())
    assert {"pgd", "pgd-10", "pgd-1000", "fgsm"} <= set(registry("attacks").names())
    assert {"pgd-at", "standard"} <= set(registry("methods").names())
    assert registry("models").entry("mlp").plugin == "advq_cli.default_plugins.models"


def test_a_registered_plugin_is_found_under_its_normalised_name(plugin):
    plugin(ExtraModel(), "extra")
    entry = registry("models").entry("EXTRA-net")
    assert entry.name == "extra-net" and entry.plugin == "extra" and entry.obj is make_mlp


def test_two_plugins_with_one_name_is_an_error_naming_both(plugin):
    plugin(ClashingModel(), "clashing")
    with pytest.raises(DuplicateNameError, match="'mlp'.*advq_cli.default_plugins.models.*clashing|clashing.*advq_cli"):
        registry("models")


def test_unknown_name_lists_the_known_ones_and_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'mlp'.*Known: .*small-cnn"):
        registry("models").get("mpl")


def test_unregistering_restores_the_registry():
    before = registry("models").names()
    register_plugin(ExtraModel(), name="extra2")
    assert "extra-net" in registry("models")
    unregister_plugin("extra2")
    assert registry("models").names() == before


def test_tracing_prints_every_hook_call_one_plugin_at_a_time():
    """ADVQ_TRACE_PLUGINS: pluggy's tracing sees every call, since hooks are called through pluggy."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ADVQ_TRACE_PLUGINS": "1", "ADVQ_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-m", "advq_cli", "plugins", "--json"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    calls = [line.split()[0] for line in done.stderr.splitlines() if line.strip().endswith("[hook]")
             and not line.strip().startswith("finish")]
    for kind in KINDS:
        registry(kind)  # plugins loaded here as in the traced process
        implementers = getattr(pm.hook, f"advq_register_{kind}").get_hookimpls()
        assert calls.count(f"advq_register_{kind}") == len(implementers) >= 1

