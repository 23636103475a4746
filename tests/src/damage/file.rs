//! File-level damage: see `tests/tests/file_damage.rs`.
