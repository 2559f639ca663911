"""Pseudonymising a column of a pandas DataFrame, for data platforms. pandas is optional: it is
imported only when these functions run (``pip install "valv[pandas]"``)."""

from __future__ import annotations

from typing import Any, Optional

from .client import Client, ItemError


def _frame_module() -> Any:
    try:
        import pandas  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without pandas
        raise ImportError('the DataFrame helpers need pandas: pip install "valv[pandas]"') from e
    return pandas


def pseudonymise_column(
    client: Client,
    frame: Any,
    column: str,
    domain: str,
    *,
    into: Optional[str] = None,
    on_error: str = "raise",
) -> Any:
    """Returns a copy of `frame` whose `column` (or a new column `into`) holds the pseudonyms of
    `column`'s identifiers in `domain`. Missing cells (None/NaN/empty) stay missing.

    on_error: ``"raise"`` (default) raises ``ValueError`` naming the rows and rules (never the
    values), and the frame is not returned; ``"null"`` leaves refused cells missing.
    """
    pd = _frame_module()
    if on_error not in ("raise", "null"):
        raise ValueError('on_error must be "raise" or "null"')
    values = frame[column]
    present = values.notna() & (values.astype(str) != "")
    index = values.index[present]
    results = client.pseudonymise(domain, [str(v) for v in values[present]])
    refused = [(row, r.rule) for row, r in zip(index, results) if isinstance(r, ItemError)]
    if refused and on_error == "raise":
        listed = "; ".join(f"row {row}: {rule}" for row, rule in refused[:10])
        raise ValueError(f"{len(refused)} identifiers in column {column!r} refused: {listed}")
    out = frame.copy()
    target = into or column
    column_values = pd.Series([None] * len(frame), index=frame.index, dtype="object")
    column_values[index] = [None if isinstance(r, ItemError) else r for r in results]
    out[target] = column_values
    return out


def reidentify_column(
    client: Client,
    frame: Any,
    column: str,
    domain: str,
    purpose: str,
    *,
    into: Optional[str] = None,
) -> Any:
    """Returns a copy of `frame` whose `column` (or `into`) holds the identifiers released for
    `purpose`; cells not released are missing (None). Every verdict is audited."""
    pd = _frame_module()
    values = frame[column]
    present = values.notna() & (values.astype(str) != "")
    index = values.index[present]
    results = client.reidentify(domain, purpose, [str(v) for v in values[present]])
    out = frame.copy()
    column_values = pd.Series([None] * len(frame), index=frame.index, dtype="object")
    column_values[index] = [r.identifier for r in results]
    out[into or column] = column_values
    return out
