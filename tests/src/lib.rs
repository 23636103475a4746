//! The backend-conformance suite.
//!
//! Every behaviour test is a generic function over a [`Backend`], written once here;
//! [`conformance_suite!`] expands one module of `#[test]`s per backend, so the test names
//! read `lmdb::commit_makes_writes_visible_to_new_readers_only`. A new backend gets every
//! test by implementing [`Backend`] (plus [`PersistentBackend`] / [`BoundedBackend`] when
//! they apply) and adding one line to `tests/backends.rs`. A test that does not apply to a
//! backend is not generated for it; none returns early.

#![allow(missing_docs)] // test functions are named for what they check

pub mod backends;
pub mod batch_suite;
pub mod build_search_suite;
pub mod by_items_suite;
pub mod checksum_suite;
pub mod codes_suite;
pub mod concurrency_suite;
pub mod corruption_suite;
pub mod crash;
pub mod damage;
pub mod dataset;
pub mod dataset_suite;
pub mod deadline_suite;
pub mod failpoint;
pub mod failure_suite;
pub mod fixtures;
pub mod index_model;
pub mod items;
pub mod prefetch_suite;
pub mod rebuild_suite;
pub mod soak_suite;
pub mod store_model;
pub mod store_suite;
pub mod update_suite;
pub mod write_failure_suite;

use std::path::Path;

use hannoy_graph::store::{KvStore, ReadTxn};
use hannoy_metrics::Metric;

/// What a reader says of index `index`'s bytes when it reads all of them: the error of its
/// open, or (a reader on a store's own transaction opens without reading the chunks, and
/// checks each on its first use) the error of [`Reader::check`], which reads every chunk.
/// Damage is reported one way or the other, never read as data.
///
/// [`Reader::check`]: hannoy_graph::Reader::check
pub fn read_everything<M: Metric, T: ReadTxn>(rtxn: &T, index: u16) -> hannoy_graph::Result<()> {
    let reader = hannoy_graph::Reader::<M, T>::open(rtxn, index)?;
    reader.check(rtxn).map(drop)
}

/// A store backend under test.
pub trait Backend {
    /// The store type.
    type Store: KvStore;

    /// A fresh, empty store kept in `dir` (an empty directory the test owns).
    fn create(dir: &Path) -> Self::Store;
}

/// A backend whose committed data survives closing and reopening the store.
pub trait PersistentBackend: Backend {
    /// Opens again the store that [`Backend::create`] made in `dir`.
    fn reopen(dir: &Path) -> Self::Store;
}

/// A backend that can be made to run out of room, to test [`StoreError::Full`].
///
/// [`StoreError::Full`]: hannoy_graph::store::StoreError::Full
pub trait BoundedBackend: Backend {
    /// A fresh store in `dir` that holds no more than about `bytes` bytes.
    fn create_bounded(dir: &Path, bytes: usize) -> Self::Store;
}

/// Expands the suite for one backend: `conformance_suite!(module_name, BackendType,
/// capabilities...)`, with the capabilities `persistent`, `bounded` and
/// `shared_read_txn` (read transactions are `Sync`).
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $backend:ty $(, $capability:ident)* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $crate::conformance_suite!(@tests $backend; store_suite:
                put_get_overwrite_delete,
                keys_iterate_in_byte_order,
                range_bounds_are_exact,
                prefix_iteration_includes_ff_edges,
                crossed_bounds_select_nothing,
                write_txn_sees_its_own_writes,
                commit_makes_writes_visible_to_new_readers_only,
                dropped_or_aborted_write_txn_discards,
                reader_keeps_its_snapshot,
                readers_in_threads_while_writer_commits,
                read_txn_moves_to_another_thread,
                empty_and_large_values,
                delete_range_and_prefix,
                failed_write_or_commit_leaves_store_unchanged,
                second_write_txn_on_one_thread_is_refused
            );
            $crate::conformance_suite!(@tests $backend; store_model:
                random_operations_match_btreemap_model
            );
            $crate::conformance_suite!(@tests $backend; build_search_suite:
                build_and_search_finds_true_neighbours,
                small_and_empty_indexes,
                second_build_inserts_only_new_items,
                several_indexes_share_a_store,
                single_thread_builds_are_deterministic
            );
            $crate::conformance_suite!(@tests $backend; update_suite:
                writer_sees_pending_changes,
                deleted_items_are_never_returned,
                deleting_everything_leaves_an_empty_valid_index,
                deleting_the_top_layer_keeps_the_hierarchy
            );
            $crate::conformance_suite!(@tests $backend; failure_suite:
                bad_input_is_a_typed_error_and_writes_nothing,
                foreign_or_newer_bytes_are_refused,
                cancelled_build_changes_nothing,
                failed_build_leaves_no_partial_index
            );
            $crate::conformance_suite!(@tests $backend; concurrency_suite:
                one_reader_serves_many_threads
            );
            $crate::conformance_suite!(@tests $backend; batch_suite:
                batch_add_equals_sequential_adds,
                bad_batch_changes_nothing,
                duplicates_in_a_batch_keep_the_last_row
            );
            $crate::conformance_suite!(@tests $backend; corruption_suite:
                upper_layer_degree_past_m_is_corrupted,
                upper_layer_link_past_slot_count_is_corrupted,
                free_slot_with_bad_degree_is_corrupted,
                pending_slot_past_slot_count_is_corrupted,
                free_slot_past_slot_count_is_corrupted,
                free_slot_holding_a_live_node_is_corrupted,
                slot_count_past_the_stored_vectors_is_corrupted,
                slot_count_backed_by_one_stray_chunk_is_corrupted,
                chunk_sizes_that_overflow_are_corrupted,
                item_count_disagreeing_with_the_item_set_is_corrupted,
                huge_k_returns_every_item,
                dimensions_past_u32_are_refused,
                built_hannoy_0_3_store_is_foreign,
                unbuilt_hannoy_0_3_store_is_foreign,
                arroy_layout_is_foreign,
                links_to_a_free_slot_are_reported_not_followed_into_a_panic
            );
            $crate::conformance_suite!(@tests $backend; checksum_suite:
                flipped_bit_in_a_vector_chunk_is_reported_not_served,
                flipped_bit_in_a_vector_chunk_is_caught_by_check,
                flipped_bit_in_a_link_chunk_is_reported,
                flipped_bit_in_a_link_chunk_is_reported_by_the_search_that_reads_it,
                flipped_bit_in_a_slot_map_value_is_reported,
                flipped_bit_in_the_item_set_metadata_or_pending_is_reported,
                flipped_bit_in_the_free_set_is_reported,
                values_swapped_between_keys_are_reported,
                version_1_store_stays_readable_and_writable,
                version_3_store_keeps_its_slot_map_per_id,
                slot_map_groups_follow_adds_replacements_and_deletes
            );
            $crate::conformance_suite!(@tests $backend; codes_suite:
                search_walks_on_codes_and_rescores_exactly,
                codes_follow_adds_replacements_and_deletes,
                codes_only_keeps_no_vectors_and_takes_updates,
                held_in_memory_reader_answers_the_same_bits,
                several_centres_follow_the_data,
                scheme_change_re_encodes_without_touching_the_graph,
                bad_codes_input_is_a_typed_error
            );
            $crate::conformance_suite!(@tests $backend; by_items_suite:
                by_items_answers_as_by_item_one_by_one,
                exclude_self_is_the_next_k_after_the_item,
                by_vectors_with_candidates_answers_as_one_query_each
            );
            $crate::conformance_suite!(@tests $backend; rebuild_suite:
                force_rebuild_links_every_item_anew,
                alpha_keeps_more_links_and_refuses_bad_values
            );
            $crate::conformance_suite!(@tests $backend; prefetch_suite:
                prefetch_spans_the_chunks_searches_read
            );
            $crate::conformance_suite!(@tests $backend; deadline_suite:
                a_search_that_is_not_cut_short_is_unchanged,
                a_cancelled_search_stops_at_the_next_expansion,
                a_past_deadline_stops_every_kind_of_search
            );
            $crate::conformance_suite!(@tests $backend; index_model:
                random_updates_keep_the_graph_valid_and_exact
            );
            $crate::conformance_suite!(@tests $backend; dataset_suite:
                recall_targets_on_real_data,
                recall_with_codes_on_real_data,
                filtered_recall_on_real_data,
                churn_keeps_recall_of_a_fresh_build
            );
            $crate::conformance_suite!(@tests $backend; damage:
                value_damage_never_panics,
                codes_only_value_damage_never_panics
            );
            $crate::conformance_suite!(@tests $backend; soak_suite:
                soak_eight_readers_and_a_writer
            );
            $crate::conformance_suite!(@tests $backend; write_failure_suite:
                failed_writes_of_a_fresh_build_leave_the_previous_commit,
                failed_writes_of_an_update_leave_the_previous_commit,
                failed_writes_of_an_entry_point_delete_leave_the_previous_commit
            );
            $( $crate::conformance_suite!(@$capability $backend); )*
        }
    };
    (@tests $backend:ty; $suite:ident: $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::$suite::$name::<$backend>();
            }
        )*
    };
    (@persistent $backend:ty) => {
        $crate::conformance_suite!(@tests $backend; store_suite:
            reopen_keeps_committed_data_only
        );
    };
    (@bounded $backend:ty) => {
        $crate::conformance_suite!(@tests $backend; store_suite:
            full_store_reports_full_and_keeps_committed_data,
            failed_write_poisons_the_write_txn
        );
    };
    (@shared_read_txn $backend:ty) => {
        $crate::conformance_suite!(@tests $backend; store_suite:
            one_read_txn_shared_by_threads
        );
    };
}

#[cfg(test)]
mod suite_list {
    //! The macro's lists of test names are a second list beside the suite files: a suite
    //! function missing from them would never run. This keeps the two the same.

    use std::path::Path;

    /// `(file, name)` of every public test function generic over a backend
    /// (`<B: ...Backend>()`) in the Rust files under `dir`.
    fn suite_functions(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                suite_functions(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("lib.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub fn ") else {
                    continue;
                };
                let Some((name, generics)) = rest.split_once('<') else {
                    continue;
                };
                // A test takes nothing and returns nothing: `<B: ...Backend>()`, then ` {`,
                // or a where clause on the next line. Helpers take or return something.
                let Some((bound, signature)) = generics.split_once('>') else {
                    continue;
                };
                let no_io = signature == "()" || signature == "() {";
                if bound.starts_with("B: ") && bound.ends_with("Backend") && no_io {
                    out.push((path.display().to_string(), name.to_string()));
                }
            }
        }
    }

    #[test]
    fn every_suite_function_is_in_the_conformance_macro() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut functions = Vec::new();
        suite_functions(&dir, &mut functions);
        assert!(functions.len() > 80, "found only {}", functions.len());
        let macro_source = include_str!("lib.rs");
        let listed = |name: &str| {
            macro_source.lines().any(|line| {
                let line = line.trim().trim_end_matches(',');
                line == name
            })
        };
        let missing: Vec<_> = functions.iter().filter(|(_, name)| !listed(name)).collect();
        assert!(
            missing.is_empty(),
            "suite functions the conformance macro does not list (they never run): {missing:?}"
        );
    }
}
