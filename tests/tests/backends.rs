//! The conformance suite, once per backend: `cargo test -p hannoy-conformance`.

use hannoy_conformance::backends::{Lmdb, Memory, Redb};
use hannoy_conformance::conformance_suite;

conformance_suite!(lmdb, Lmdb, persistent, bounded);
conformance_suite!(redb, Redb, persistent, shared_read_txn);
conformance_suite!(memory, Memory, bounded, shared_read_txn);
