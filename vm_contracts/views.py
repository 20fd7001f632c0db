"""A model read the way people look at it: parameters in human units, history as a table.

The contracts keep reals as integers scaled by 10^9 (:mod:`vm_contracts.fixed_point`);
:func:`model_parameters` reads every parameter at a block (through
:func:`vm_contracts.versions.read_model_at`, from the archive) and gives the scaled ones
back as floats (``learning_rate`` 1.0, not 1000000000), or as the contract holds them
with ``raw=True`` (the dict ``deploy_framework`` and ``replace_model`` accept).
:func:`history_frame` is :func:`vm_contracts.versions.model_versions` (and, with a test
set, ``score_versions``) as a pandas ``DataFrame``, one row per change; pandas is the
optional ``pandas`` extra (``pip install 'sumchain[pandas]'``).

Nothing here reads the chain itself: it calls the read functions of
:mod:`vm_contracts.versions` and reshapes what they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vm_contracts.errors import MissingExtra
from vm_contracts.fixed_point import from_fixed
from vm_contracts.versions import (
    META_KEYS,
    TestSet,
    attach_trainer,
    model_versions,
    parameters,
    read_model_at,
    resolve_block,
    score_versions,
)

FIXED_POINT_PARAMETERS = frozenset({"learning_rate", "intercept", "weights", "smoothing", "centroids"})
"""The parameters the models keep in fixed point (x 10^9); every other one is a count."""
HISTORY_COLUMNS = ("block", "kind", "accuracy", "changed_by", "label", "data", "transaction")


def human_units(state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` (a ``read_model`` dict) with each fixed-point parameter as floats
    (nested lists keep their shape); counts and the model/address/block keys as they are."""
    return {key: _unscaled(value) if key in FIXED_POINT_PARAMETERS else value for key, value in state.items()}


def _unscaled(value: Any) -> Any:
    if isinstance(value, list):
        return [_unscaled(item) for item in value]
    return from_fixed(int(value))


def model_parameters(framework: Any, block: int | str = "latest", raw: bool = False) -> dict[str, Any]:
    """Every parameter of ``framework``'s model at ``block`` (number or tag), in human
    units (``raw=False``: fixed point as floats) or as stored on chain (``raw=True``).
    The model, its address and the block number are not parameters and are left out.
    Raises ``NoArchive`` when the node keeps no state for that block."""
    state = read_model_at(framework, resolve_block(framework.w3, block))
    return parameters(state if raw else human_units(state))


def trainer_parameters(
    w3: Any, trainer: str, block: int | str = "latest", raw: bool = False
) -> dict[str, Any]:
    """:func:`model_parameters` of the trainer at ``trainer`` (its model type and incentive
    mechanism recognised from the deployed code), with model, address and block."""
    number = resolve_block(w3, block)
    framework = attach_trainer(w3, trainer, number)
    state = read_model_at(framework, number)
    return dict(state) if raw else human_units(state)


def history_frame(framework: Any, to_block: int | str = "latest", test_set: TestSet | None = None) -> Any:
    """The model's versions up to ``to_block`` as a ``pandas.DataFrame``: one row per
    change (``block``, ``kind`` deployed/update/replaced, ``accuracy`` on ``test_set`` or
    NaN, ``changed_by``, ``label``, ``data``, ``transaction``), a version without changes
    (its deployment) as one row. Raises :class:`~vm_contracts.errors.MissingExtra`
    without pandas."""
    try:
        import pandas
    except ImportError:
        raise MissingExtra("pandas", "a DataFrame of a model's history") from None
    last = resolve_block(framework.w3, to_block)
    versions = model_versions(framework, last)
    if test_set is not None:
        score_versions(framework, versions, test_set)
    rows: list[tuple[Any, ...]] = []
    for version in versions:
        changes: list[tuple[Any, ...]] = list(version.changes) or [(None, None, None, None)]
        for by, label, data, tx in changes:
            rows.append((version.block, version.kind, version.accuracy, by, label, data, tx))
    frame = pandas.DataFrame.from_records(rows, columns=list(HISTORY_COLUMNS))
    frame["accuracy"] = frame["accuracy"].astype("float64")
    frame["label"] = frame["label"].astype("Int64")  # missing for deployments and replacements
    return frame


__all__ = [
    "FIXED_POINT_PARAMETERS",
    "HISTORY_COLUMNS",
    "META_KEYS",
    "history_frame",
    "human_units",
    "model_parameters",
    "trainer_parameters",
]
