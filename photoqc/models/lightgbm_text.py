"""Check a LightGBM text model before LightGBM reads it.

LightGBM's loader trusts its input: a ``tree_sizes`` entry that points past a tree, a child
index outside the tree or a feature index past the last feature makes it read or write out
of bounds (a crash, not an exception), and a huge ``num_leaves`` makes it allocate
gigabytes. A model folder is data from wherever the user got it, so every number the
loader would trust is checked here first, against the model's own description: a plain
binary model (one class, one tree per iteration, no categorical or linear trees) over
exactly the features the description names, whose trees are trees.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from photoqc.errors import PhotoqcError

MAX_TREES = 100_000
MAX_LEAVES = 131_072
OBJECTIVES = ("binary", "cross_entropy")
"""Objectives photoqc trains with (:mod:`photoqc.models.classifier`)."""

_TREE_START = "Tree="
_TREES_END = "end of trees"
_CATEGORICAL = 1  # decision_type bit: categorical split
_MISSING_TYPES = (0, 1, 2)  # decision_type bits 2-3: none, zero, NaN


class ModelTextError(PhotoqcError):
    """The text is not a model photoqc would have written; the message says what is wrong."""


def check_model_text(text: str, feature_names: Sequence[str]) -> int:
    """Check ``text`` (a LightGBM text model) against ``feature_names``; returns the number
    of trees.

    Raises
    ------
    ModelTextError
        The first thing found wrong.
    """
    if not text.isascii():
        raise ModelTextError("not plain ASCII text")
    head, found, body = text.partition("\n" + _TREE_START)
    if not found:
        raise ModelTextError("no trees")
    header = _key_values(head.splitlines()[1:], "header")
    if head.splitlines()[:1] != ["tree"]:
        raise ModelTextError("does not start with 'tree'")
    _expect(header, "version", {"v3", "v4"})
    _expect(header, "num_class", {"1"})
    _expect(header, "num_tree_per_iteration", {"1"})
    _expect(header, "max_feature_idx", {str(len(feature_names) - 1)})
    if header.get("objective", "").split(" ")[0] not in OBJECTIVES:
        raise ModelTextError(f"objective {header.get('objective')!r} is not one photoqc trains")
    if header.get("feature_names", "").split(" ") != list(feature_names):
        raise ModelTextError("its feature names differ from the description's")
    sizes = _integers(header.get("tree_sizes", ""), "tree_sizes")
    trees, found, tail = body.partition("\n\n\n" + _TREES_END)
    if not found:
        raise ModelTextError(f"no '{_TREES_END}' line")
    _check_tail(tail)
    blocks = trees.split("\n\n\n" + _TREE_START)
    if not 1 <= len(blocks) <= MAX_TREES or len(sizes) != len(blocks):
        raise ModelTextError(f"{len(blocks)} trees but {len(sizes)} tree_sizes")
    for number, (block, size) in enumerate(zip(blocks, sizes, strict=True)):
        # LightGBM jumps by tree_sizes: each must be the byte length of "Tree=..." up to
        # the next tree.
        if len(_TREE_START) + len(block) + 3 != size:
            raise ModelTextError(f"tree_sizes[{number}] does not match tree {number}")
        lines = block.split("\n")
        if lines[0] != str(number):
            raise ModelTextError(f"tree {number} is numbered {lines[0]!r}")
        _check_tree(_key_values(lines[1:], f"tree {number}"), len(feature_names), number)
    return len(blocks)


_IMPORTANCE = re.compile(r"^[A-Za-z0-9_]{1,200}=\d{1,12}$")
_PARAMETER = re.compile(r"^\[[a-z0-9_]{1,80}: [^\[\]\n]{0,2000}\]$")
_PANDAS_CATEGORICAL = ("pandas_categorical:null", "pandas_categorical:[]")
MAX_TAIL_LINES = 5000


def _check_tail(tail: str) -> None:
    """What LightGBM writes after the trees: feature importances, the parameters, and
    ``pandas_categorical``, which LightGBM's Python reader parses as JSON (a deeply nested
    or malformed one raises there): photoqc never trains on categories, so only ``null``
    or ``[]`` is accepted."""
    lines = [line for line in tail.split("\n") if line]
    if len(lines) > MAX_TAIL_LINES:
        raise ModelTextError(f"after the trees: {len(lines)} lines, more than a model writes")
    section = ""
    for line in lines:
        if line in ("feature_importances:", "parameters:", "end of parameters"):
            section = line
        elif line.startswith("pandas_categorical:"):
            if line not in _PANDAS_CATEGORICAL:
                raise ModelTextError(f"after the trees: {line[:40]!r} (photoqc uses no categories)")
            section = "end"
        elif section == "feature_importances:" and _IMPORTANCE.match(line):
            continue
        elif section == "parameters:" and _PARAMETER.match(line):
            continue
        else:
            raise ModelTextError(f"after the trees: unexpected line {line[:40]!r}")


def _check_tree(tree: dict[str, str], n_features: int, number: int) -> None:
    where = f"tree {number}"
    leaves = _integers(tree.get("num_leaves", ""), f"{where} num_leaves")
    if len(leaves) != 1 or not 1 <= leaves[0] <= MAX_LEAVES:
        raise ModelTextError(f"{where}: num_leaves must be one number in 1..{MAX_LEAVES}")
    n = leaves[0]
    _expect(tree, "num_cat", {"0"}, where)
    _expect(tree, "is_linear", {"0"}, where)
    _numbers(tree, "leaf_value", n, where)
    _numbers(tree, "shrinkage", 1, where)
    if n == 1:
        return
    splits = n - 1
    features = _counted(tree, "split_feature", splits, where)
    if any(not 0 <= f < n_features for f in features):
        raise ModelTextError(f"{where}: a split on a feature that does not exist")
    for kind in _counted(tree, "decision_type", splits, where):
        if kind & _CATEGORICAL or kind >> 4 or (kind >> 2) & 3 not in _MISSING_TYPES:
            raise ModelTextError(f"{where}: decision_type {kind} is not a numeric split")
    # LightGBM writes an infinite threshold for a split that sends every measured value one
    # way and only the missing ones the other: legitimate; NaN is not.
    _numbers(tree, "threshold", splits, where, allow_infinite=True)
    left = _counted(tree, "left_child", splits, where)
    right = _counted(tree, "right_child", splits, where)
    _check_structure(left, right, n, where)


def _check_structure(left: list[int], right: list[int], n: int, where: str) -> None:
    """Children are internal nodes (>= 0) or leaves (~leaf); every node but the root, and
    every leaf, is reached exactly once from the root."""
    seen_nodes, seen_leaves = {0}, set()
    stack = [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= n - 1 or child in seen_nodes:
                    raise ModelTextError(f"{where}: child {child} is not a tree node")
                seen_nodes.add(child)
                stack.append(child)
            else:
                leaf = ~child
                if leaf >= n or leaf in seen_leaves:
                    raise ModelTextError(f"{where}: leaf {leaf} is not a leaf of the tree")
                seen_leaves.add(leaf)
    if len(seen_nodes) != n - 1 or len(seen_leaves) != n:
        raise ModelTextError(f"{where}: some nodes are not reached from the root")


def _key_values(lines: Sequence[str], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        key, found, value = line.partition("=")
        if not found or key in values:
            raise ModelTextError(f"{where}: unexpected line {line[:40]!r}")
        values[key] = value
    return values


def _expect(values: dict[str, str], key: str, allowed: set[str], where: str = "header") -> None:
    if values.get(key) not in allowed:
        raise ModelTextError(f"{where}: {key}={values.get(key)!r} (expected {sorted(allowed)})")


def _integers(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(" ") if v]
    except ValueError:
        raise ModelTextError(f"{what}: not whole numbers") from None


def _counted(values: dict[str, str], key: str, count: int, where: str) -> list[int]:
    numbers = _integers(values.get(key, ""), f"{where} {key}")
    if len(numbers) != count:
        raise ModelTextError(f"{where}: {key} has {len(numbers)} values, not {count}")
    return numbers


def _numbers(
    values: dict[str, str], key: str, count: int, where: str, *, allow_infinite: bool = False
) -> None:
    try:
        numbers = [float(v) for v in values.get(key, "").split(" ") if v]
    except ValueError:
        raise ModelTextError(f"{where}: {key} is not numbers") from None
    valid = (lambda x: not math.isnan(x)) if allow_infinite else math.isfinite
    if len(numbers) != count or not all(valid(x) for x in numbers):
        kind = "numbers (not NaN)" if allow_infinite else "finite numbers"
        raise ModelTextError(f"{where}: {key} must be {count} {kind}")
