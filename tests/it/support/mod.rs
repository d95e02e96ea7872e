//! Helpers shared by the tests (and, for `fuzzing`, by the fuzz targets in `fuzz/`).

pub mod fuzzing;
