"""Reading and writing forgetting matrices: ``.npy`` (+ the paper's ``.meta``), CSV, Parquet."""

from forgetmap.io._convert import (
    FORMATS,
    export_store,
    import_matrix,
    output_files,
    read_matrix,
    store_matrix,
    write_matrix,
)
from forgetmap.io._matrix import LabelledMatrix

__all__ = [
    "FORMATS",
    "LabelledMatrix",
    "export_store",
    "import_matrix",
    "output_files",
    "read_matrix",
    "store_matrix",
    "write_matrix",
]
