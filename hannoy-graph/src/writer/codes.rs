//! The compact codes a build writes beside the vectors.
//!
//! Codes are written by builds, never by `add_item`: a build encodes the vectors it
//! inserts and rewrites only the code chunks holding them. When the scheme changes (or
//! codes are added to an index that had none), the build fits a new quantizer on every
//! live vector (its centre) and re-encodes them all, without touching the graph: that is
//! how codes are added to, changed on or removed from a built index.

use std::collections::BTreeMap;

use hannoy_metrics::{Metric, Quantizer, Scheme};
use rayon::prelude::*;

use super::graph::BuildGraph;
use super::hooks::Hooks;
use crate::error::{Error, Result};
use crate::format::codes::{code_error, decode_error, read_quantizer};
use crate::format::{CODES_SINCE, CodesInfo, Geometry, Metadata, key};
use crate::store::ReadTxn;

/// The seed of an index's rotation: fixed, so the same vectors give the same codes.
const ROTATION_SEED: u64 = 0x6861_6e6e_6f79_5251;

/// What a build does with an index's compact codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodesChoice {
    /// Keep what the index has: encode the inserted vectors with its quantizer, if any.
    #[default]
    Keep,
    /// Use this scheme: re-encode every vector if the index has another (or none).
    Set(Scheme),
    /// Keep no codes: delete them.
    Remove,
    /// Keep codes of this scheme and no full vectors (a codes-only index; the scheme must
    /// decode, see [`Scheme::decodes`]).
    Only(Scheme),
}

/// The writes of a build's codes: payloads (sealed by the plan) and deletions.
#[derive(Default)]
pub struct CodeWrites {
    /// `(key, payload)` of each code chunk and of the quantizer.
    pub puts: Vec<(Vec<u8>, Vec<u8>)>,
    /// Prefixes to clear first (every code chunk, when re-encoding or removing).
    pub delete_prefixes: Vec<Vec<u8>>,
    /// Keys to delete.
    pub deletes: Vec<Vec<u8>>,
}

/// Checks, before a build does any work, that `choice` can apply to an index of metric
/// `M` written in `version`.
///
/// # Errors
/// [`Error::Codes`] for a metric that takes no codes; [`Error::InvalidParameter`] for a
/// version-1 index (its values have no checksums; clear it to add codes).
pub fn check_choice<M: Metric>(choice: CodesChoice, dimensions: usize, version: u32) -> Result<()> {
    let (CodesChoice::Set(scheme) | CodesChoice::Only(scheme)) = choice else {
        return Ok(());
    };
    Quantizer::fit(scheme, M::NAME, dimensions, ROTATION_SEED, [])
        .map_err(|error| code_error(error, None))?;
    if matches!(choice, CodesChoice::Only(_)) && !scheme.decodes() {
        return Err(code_error(
            hannoy_metrics::CodeError::NotDecodable {
                scheme: scheme.name(),
            },
            None,
        ));
    }
    if version < CODES_SINCE - 1 {
        return Err(Error::invalid_parameter(format!(
            "an index in format version {version} cannot take codes: clear it and build again"
        )));
    }
    Ok(())
}

/// Checks that `choice` can apply to an index whose stored codes are `stored`: a
/// codes-only index keeps its scheme (it has no vectors to encode again).
///
/// # Errors
/// [`Error::InvalidParameter`] for another scheme, or no codes, on a codes-only index.
pub fn check_against_stored(choice: CodesChoice, stored: Option<&CodesInfo>) -> Result<()> {
    let Some(info) = stored.filter(|info| info.only) else {
        return Ok(());
    };
    let keeps = match choice {
        CodesChoice::Keep => true,
        CodesChoice::Only(scheme) => scheme.name() == info.scheme,
        CodesChoice::Set(_) | CodesChoice::Remove => false,
    };
    match keeps {
        true => Ok(()),
        false => Err(Error::invalid_parameter(format!(
            "the index keeps {} codes only, no full vectors to encode again: it stays codes-only with that scheme",
            info.scheme
        ))),
    }
}

/// The vectors the codes of `slots` stand for, encoded by the metric, one after the other
/// (decoded in parallel): what a build of a codes-only index links new items against.
pub fn stand_ins<M: Metric, T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
    slots: &[u32],
    hooks: Hooks<'_>,
) -> Result<Vec<u8>> {
    let Some(info) = meta.codes.as_ref() else {
        return Ok(Vec::new());
    };
    let quantizer = read_quantizer(txn, index, meta, info)?;
    let codes = crate::chunks::load_codes(txn, index, meta, info)?;
    let encoded_len = M::encoded_len(meta.dimensions as usize);
    per_slot_in_parallel(hooks, slots, encoded_len, |slot, out| {
        let code = codes.checked(slot)?;
        let vector = quantizer
            .decode(code)
            .map_err(|error| decode_error(error, &codes.key_of(slot), slot))?;
        M::encode(&vector, out)
            .map_err(|e| Error::corrupted(format!("code of slot {slot}: {e}"), &codes.key_of(slot)))
    })
}

/// Appends `write(slot, out)`'s bytes (about `len` per slot) for every slot of `slots`,
/// in order, computed in parallel parts.
fn per_slot_in_parallel(
    hooks: Hooks<'_>,
    slots: &[u32],
    len: usize,
    write: impl Fn(u32, &mut Vec<u8>) -> Result<()> + Sync,
) -> Result<Vec<u8>> {
    let parts: Vec<Vec<u8>> = hooks.run(|| {
        slots
            .par_chunks(256)
            .map(|part| {
                let mut out = Vec::with_capacity(part.len() * len);
                for &slot in part {
                    write(slot, &mut out)?;
                }
                Ok(out)
            })
            .collect::<Result<_>>()
    })?;
    Ok(parts.concat())
}

/// The vector the code of built `slot` stands for, in a codes-only index.
pub fn read_stand_in<T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
    slot: u32,
) -> Result<Vec<f32>> {
    let info = meta
        .codes
        .as_ref()
        .ok_or_else(|| Error::corrupted("a codes-only index without codes", &[]))?;
    let quantizer = read_quantizer(txn, index, meta, info)?;
    let (chunk, place) = info.place(slot);
    let code_len = info.code_len as usize;
    let bytes = read_chunk(txn, meta, index, chunk, code_len * info.code_slots as usize)?;
    let chunk_key = key::codes(index, chunk);
    quantizer
        .decode(&bytes[place * code_len..(place + 1) * code_len])
        .map_err(|error| decode_error(error, &chunk_key, slot))
}

/// Plans the codes of a build over `graph` (live nodes only): updates `meta.codes` (and
/// its version) and returns the writes. `stored` is the metadata as it was loaded.
pub fn plan_codes<M: Metric, T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &mut Metadata,
    choice: CodesChoice,
    graph: &BuildGraph<'_, M>,
    inserted: &[(u32, u32)],
    hooks: Hooks<'_>,
) -> Result<CodeWrites> {
    let stored = meta.codes.clone();
    // A codes-only index stays so (`check_against_stored` refused any other scheme).
    let (choice, only) = match choice {
        CodesChoice::Only(scheme) => (CodesChoice::Set(scheme), true),
        other => (other, stored.as_ref().is_some_and(|info| info.only)),
    };
    let vectors_prefix = key::prefix(index, key::Tag::Vectors).to_vec();
    let dimensions = meta.dimensions as usize;
    let quantizer_key = key::prefix(index, key::Tag::Quantizer).to_vec();
    let codes_prefix = key::prefix(index, key::Tag::Codes).to_vec();
    let mut writes = CodeWrites::default();
    let wanted = match (choice, &stored) {
        (CodesChoice::Remove, _) | (CodesChoice::Keep, None) => {
            if stored.is_some() {
                writes.delete_prefixes.push(codes_prefix);
                writes.deletes.push(quantizer_key);
            }
            meta.codes = None;
            return Ok(writes);
        }
        (CodesChoice::Keep, Some(info)) => Scheme::from_name(&info.scheme)
            .ok_or_else(|| Error::corrupted("unknown code scheme", &quantizer_key))?,
        (CodesChoice::Set(scheme) | CodesChoice::Only(scheme), _) => scheme,
    };
    let live: Vec<u32> = (0..graph.vectors.len() as u32)
        .filter(|&slot| graph.is_live(slot))
        .collect();

    // The same scheme as stored: encode the inserted vectors only, into their chunks.
    if let Some(info) = stored.filter(|info| info.scheme == wanted.name()) {
        let quantizer = read_quantizer(txn, index, meta, &info)?;
        let slots: Vec<u32> = inserted.iter().map(|&(slot, _)| slot).collect();
        let encoded = encode_slots::<M>(&quantizer, graph, &slots, dimensions, hooks)?;
        let mut chunks: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        let code_len = info.code_len as usize;
        let chunk_len = code_len * info.code_slots as usize;
        for (&slot, code) in slots.iter().zip(encoded.chunks_exact(code_len)) {
            let (chunk, place) = info.place(slot);
            let bytes = match chunks.entry(chunk) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(read_chunk(txn, meta, index, chunk, chunk_len)?)
                }
            };
            bytes[place * code_len..(place + 1) * code_len].copy_from_slice(code);
        }
        writes.puts.extend(
            chunks
                .into_iter()
                .map(|(chunk, bytes)| (key::codes(index, chunk).to_vec(), bytes)),
        );
        if only {
            // The inserted vectors are encoded: no vector is kept.
            writes.delete_prefixes.push(vectors_prefix);
            if let Some(info) = &mut meta.codes {
                info.only = true;
            }
        }
        return Ok(writes);
    }

    // A new scheme: fit on every live vector, encode them all.
    let vectors = decode_slots::<M>(graph, &live, dimensions)?;
    let quantizer = Quantizer::fit(
        wanted,
        M::NAME,
        dimensions,
        ROTATION_SEED,
        vectors.chunks_exact(dimensions.max(1)),
    )
    .map_err(|error| code_error(error, None))?;
    let code_len = quantizer.code_len();
    let code_slots = Geometry::slots_for_items(code_len, &|len| txn.stored_len(len));
    let info = CodesInfo {
        scheme: wanted.name().to_owned(),
        code_len: u32::try_from(code_len)
            .map_err(|_| Error::invalid_parameter("codes of more than 4 GiB"))?,
        code_slots,
        only,
    };
    let encoded = encode_slots::<M>(&quantizer, graph, &live, dimensions, hooks)?;
    let chunk_len = code_len * code_slots as usize;
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new(); info.chunks(meta.slot_count)];
    for (&slot, code) in live.iter().zip(encoded.chunks_exact(code_len)) {
        let (chunk, place) = info.place(slot);
        let bytes = &mut chunks[chunk as usize];
        if bytes.is_empty() {
            bytes.resize(chunk_len, 0);
        }
        bytes[place * code_len..(place + 1) * code_len].copy_from_slice(code);
    }
    writes.delete_prefixes.push(codes_prefix);
    writes.puts.extend(
        chunks
            .into_iter()
            .enumerate()
            .filter(|(_, bytes)| !bytes.is_empty())
            .map(|(chunk, bytes)| (key::codes(index, chunk as u32).to_vec(), bytes)),
    );
    writes.puts.push((quantizer_key, quantizer.to_bytes()));
    if only {
        writes.delete_prefixes.push(vectors_prefix);
    }
    meta.codes = Some(info);
    meta.version = meta.version.max(CODES_SINCE);
    Ok(writes)
}

/// The stored payload of code chunk `chunk`, checksum checked, or zeros when it does not
/// exist yet (its slots were reserved after the last build).
fn read_chunk<T: ReadTxn>(
    txn: &T,
    meta: &Metadata,
    index: u16,
    chunk: u32,
    chunk_len: usize,
) -> Result<Vec<u8>> {
    let chunk_key = key::codes(index, chunk);
    match txn.get(&chunk_key)? {
        None => Ok(vec![0; chunk_len]),
        Some(value) => {
            let payload = meta.unseal(&chunk_key, value.as_ref())?;
            if payload.len() != chunk_len {
                return Err(Error::corrupted(
                    format!("code chunk has a bad length ({})", payload.len()),
                    &chunk_key,
                ));
            }
            Ok(payload.to_vec())
        }
    }
}

/// The vectors of `slots` as `f32`, row after row.
fn decode_slots<M: Metric>(
    graph: &BuildGraph<'_, M>,
    slots: &[u32],
    dimensions: usize,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(slots.len() * dimensions);
    for &slot in slots {
        out.extend(decode_slot(graph, slot, dimensions)?);
    }
    Ok(out)
}

fn decode_slot<M: Metric>(
    graph: &BuildGraph<'_, M>,
    slot: u32,
    dimensions: usize,
) -> Result<Vec<f32>> {
    M::decode(graph.vectors[slot as usize], dimensions)
        .map_err(|e| Error::corrupted(format!("vector of slot {slot}: {e}"), &[]))
}

/// The codes of `slots`, one after the other, encoded in parallel.
fn encode_slots<M: Metric>(
    quantizer: &Quantizer,
    graph: &BuildGraph<'_, M>,
    slots: &[u32],
    dimensions: usize,
    hooks: Hooks<'_>,
) -> Result<Vec<u8>> {
    per_slot_in_parallel(hooks, slots, quantizer.code_len(), |slot, out| {
        let vector = decode_slot(graph, slot, dimensions)?;
        quantizer
            .encode(&vector, out)
            .map_err(|error| code_error(error, Some(graph.items[slot as usize])))
    })
}
