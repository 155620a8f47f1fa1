"""The method registry (projects/registry.py): methods are discovered, never listed in the core.

* No method package outside projects/ is named in the core, train_net.py, the tools or the shared test
  harness: not as an identifier, not in a string constant (docstrings and comments may cite papers).
* A config naming an unregistered meta-architecture fails with an error that names the entry-point group.
* A method registered by a package of its own (here: a toy one) is picked up by the config entrance.
* setup.py's entry points declare this project's methods.
"""
import ast
import importlib
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from detectron2.config import CfgNode as CN
from detectron2.modeling import META_ARCH_REGISTRY

from projects import registry
from projects.config import load_config
from projects.registry import ENTRY_POINT_GROUP, Method, UnregisteredMethodError, register_method, registered_methods

ROOT = Path(__file__).resolve().parents[2]
# Where no method may be listed: the core (its method packages aside), the one script, the tools, the harness.
CORE_GLOBS = ("projects/**/*.py", "train_net.py", "tools/**/*.py", "tests/harness/*.py")
SETUP_METHODS = {"detr", "deformable_detr", "conditional_detr", "smca", "dab_detr", "dino"}


def setup_entry_points():
    """{name: module} that setup.py declares under the entry-point group (its text, not the installed metadata)."""
    for node in ast.walk(ast.parse((ROOT / "setup.py").read_text())):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            declared = ast.literal_eval(node.value)[ENTRY_POINT_GROUP]
            return dict(tuple(part.strip() for part in line.split("=")) for line in declared)
    return {}


@pytest.fixture(scope="module")
def project_methods():
    """Every method setup.py declares, imported (so also where the installed metadata is older than setup.py)."""
    for module in setup_entry_points().values():
        importlib.import_module(module)
    return registered_methods()


def core_files():
    return sorted({path for pattern in CORE_GLOBS for path in ROOT.glob(pattern)})


def docstring_nodes(tree):
    """The Constant nodes that are docstrings (of the module, a class or a function)."""
    definitions = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    owners = [tree, *(n for n in ast.walk(tree) if isinstance(n, definitions))]
    return {id(owner.body[0].value) for owner in owners
            if owner.body and isinstance(owner.body[0], ast.Expr) and isinstance(owner.body[0].value, ast.Constant)
            and isinstance(owner.body[0].value.value, str)}


def identifiers(node):
    """The names ``node`` binds or uses: variables, attributes, definitions, arguments, keywords, imports."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg or ""]
    if isinstance(node, ast.alias):
        return [node.name, node.asname or ""]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def method_mentions(source, forbidden):
    """(line, text) of every identifier or non-docstring string constant of ``source`` that contains a
    ``forbidden`` regular expression."""
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        texts = identifiers(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            texts.append(node.value)
        found += [(getattr(node, "lineno", 0), text) for text in texts if forbidden.search(text)]
    return found


def forbidden_names(methods):
    """A pattern of what the core must not name: each method package outside projects/, its
    meta-architectures, and its configs folder."""
    words = set()
    for method in methods.values():
        package = (method.package or method.name).split(".")[0]
        if package == "projects":
            continue  # DETR lives in the core: its names are the core's own
        words |= {package, f"configs/{package}/", *method.meta_architectures}
    return re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)))


def test_no_method_is_listed_in_the_core(project_methods):
    forbidden = forbidden_names(project_methods)
    assert forbidden.pattern
    mentions = [f"{path.relative_to(ROOT)}:{line}: {text!r}" for path in core_files()
                for line, text in method_mentions(path.read_text(), forbidden)]
    assert not mentions, "method names listed outside their packages (register them instead):\n" + "\n".join(mentions)


def test_the_scan_catches_a_list_but_not_docstrings_or_comments(project_methods):
    forbidden = forbidden_names(project_methods)
    source = '"""Module docstring citing SMCA (Gao et al.)."""\n# a comment: smca\nX = ["smca"]\n'
    assert method_mentions(source, forbidden) == [(3, "smca")]
    assert {text for _, text in method_mentions("from smca import SMCA\n", forbidden)} == {"smca", "SMCA"}
    assert method_mentions('PATH = f"configs/smca/{name}.yaml"\n', forbidden)


def write_config(folder, meta_architecture, extra=""):
    path = folder / "config.yaml"
    path.write_text(f"MODEL:\n  META_ARCHITECTURE: {meta_architecture}\n{extra}")
    return str(path)


@pytest.mark.parametrize("extra", ["", "  NOSUCH_METHOD:\n    SIZE: 3\n"], ids=["known-keys", "its-own-keys"])
def test_unregistered_meta_architecture_names_the_entry_point_group(tmp_path, extra):
    with pytest.raises(UnregisteredMethodError, match=re.escape(f"'{ENTRY_POINT_GROUP}' entry-point group")):
        load_config(write_config(tmp_path, "NoSuchDETR", extra))


class ToyDETR:
    """Stands in for a user's meta-architecture: only its registration matters here."""


def add_toy_config(cfg):
    if "TOY" not in cfg.MODEL:
        cfg.MODEL.TOY = CN()
        cfg.MODEL.TOY.SIZE = 3


@pytest.fixture
def toy_method():
    """A method registered as a user's own package would register it; removed again afterwards."""
    META_ARCH_REGISTRY.register(ToyDETR)
    method = register_method(Method(name="toy_detr", add_config=add_toy_config, meta_architectures=("ToyDETR",)))
    try:
        yield method
    finally:
        registry._METHODS.pop(method.name, None)
        META_ARCH_REGISTRY._obj_map.pop("ToyDETR", None)


def test_a_registered_method_is_picked_up_by_load_config(tmp_path, toy_method):
    cfg = load_config(write_config(tmp_path, "ToyDETR", "  TOY:\n    SIZE: 5\n"), ["MODEL.TOY.SIZE", 7], freeze=False)
    assert cfg.MODEL.META_ARCHITECTURE == "ToyDETR" and cfg.MODEL.TOY.SIZE == 7
    assert registered_methods()["toy_detr"] is toy_method


def test_setup_entry_points_are_discovered():
    assert set(setup_entry_points()) == SETUP_METHODS
    declared = {point.name for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert SETUP_METHODS <= declared, (
        f"installed metadata declares {sorted(declared)} under {ENTRY_POINT_GROUP}: reinstall the project "
        "(pip install -e .) after changing setup.py's entry points")
    assert SETUP_METHODS <= set(registered_methods())
