"""Human-facing exports: UK official-statistics symbols and CSV.

Suppressed cells read ``c`` (confidential) and not-applicable cells ``z`` (GSS/DfE/ONS
convention). Primary and secondary suppressions look the same on purpose: telling them
apart would point at the small cells.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pacsv

from labour_trust.disclosure.engine import NOT_APPLICABLE, SUPPRESSED, SdcResult

CONFIDENTIAL = "c"
NOT_APPLICABLE_SYMBOL = "z"


def human_table(result: SdcResult) -> pa.Table:
    """The published table with every measure as text: numbers, 'c' or 'z'."""
    description = result.description
    status = result.status
    by_column: dict[str, list[str]] = {}
    for column, state in zip(
        status.column("column").to_pylist(), status.column("status").to_pylist(), strict=True
    ):
        by_column.setdefault(column, []).append(state)
    arrays = []
    for name in result.table.column_names:
        data = result.table.column(name)
        if name not in by_column:
            arrays.append(data)
            continue
        step = result.policy.rounding_step(description.unit_of(name))
        arrays.append(
            pa.array(
                [
                    _symbol(state) or _format(value, name in description.counts, step)
                    for value, state in zip(data.to_pylist(), by_column[name], strict=True)
                ],
                type=pa.string(),
            )
        )
    return pa.table(arrays, names=result.table.column_names)


def csv_bytes(result: SdcResult) -> bytes:
    """The human-facing table as CSV (UTF-8, header row)."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(human_table(result), sink)
    return sink.getvalue().to_pybytes()


def _symbol(state: str) -> str | None:
    if state in SUPPRESSED:
        return CONFIDENTIAL
    if state == NOT_APPLICABLE:
        return NOT_APPLICABLE_SYMBOL
    return None


def _format(value: float | int | None, is_count: bool, step: float | None) -> str:
    if value is None:
        return NOT_APPLICABLE_SYMBOL
    if is_count or (step is not None and step >= 1):
        return str(round(value))
    if step is None:
        return repr(float(value))
    decimals = max(0, -Decimal(repr(float(step))).normalize().as_tuple().exponent)
    return f"{value:.{decimals}f}"
