//! The quantizer value of an index's compact codes (`[index][Quantizer]`), and how a codec
//! error maps onto the index's errors.

use hannoy_metrics::{CodeError, Quantizer};

use crate::error::{Error, Result};
use crate::format::{CodesInfo, Metadata, key};
use crate::store::ReadTxn;

/// Reads and checks the quantizer of `index`, which `meta` says has codes `codes`: the
/// value must exist, pass its checksum, decode, and agree with the metadata (scheme,
/// metric, dimensions, code length).
///
/// # Errors
/// [`StoreError::Corrupted`](crate::StoreError::Corrupted) naming the quantizer's key;
/// store errors.
pub fn read_quantizer<T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
    codes: &CodesInfo,
) -> Result<Quantizer> {
    let quantizer_key = key::prefix(index, key::Tag::Quantizer);
    let bytes = txn
        .get(&quantizer_key)?
        .ok_or_else(|| Error::corrupted("the index has codes but no quantizer", &quantizer_key))?;
    let payload = meta.unseal(&quantizer_key, bytes.as_ref())?;
    let quantizer = Quantizer::from_bytes(payload)
        .map_err(|error| Error::corrupted(format!("quantizer: {error}"), &quantizer_key))?;
    // What the index can check itself: the metric must take codes, as a fit would say.
    Quantizer::fit(
        quantizer.scheme(),
        &meta.metric,
        quantizer.dimensions(),
        quantizer.seed(),
        [],
    )
    .map_err(|error| Error::corrupted(format!("quantizer: {error}"), &quantizer_key))?;
    let agrees = quantizer.scheme().name() == codes.scheme
        && quantizer.dimensions() == meta.dimensions as usize
        && quantizer.code_len() == codes.code_len as usize;
    if !agrees {
        return Err(Error::corrupted(
            "the quantizer does not match the metadata's codes",
            &quantizer_key,
        ));
    }
    Ok(quantizer)
}

/// A codec error met while encoding `item` (`None`: a query), as the index reports it.
pub fn code_error(error: CodeError, item: Option<u32>) -> Error {
    match error {
        CodeError::Vector(source) => Error::InvalidVector { item, source },
        CodeError::DimensionMismatch { expected, found } => {
            Error::DimensionMismatch { expected, found }
        }
        other => Error::Codes(other),
    }
}

/// A codec error met while decoding the stored code of `slot` (in the chunk under
/// `chunk_key`): corrupt bytes are `Corrupted` naming the chunk, the rest as
/// [`code_error`].
pub fn decode_error(error: CodeError, chunk_key: &[u8], slot: u32) -> Error {
    match error {
        CodeError::Corrupted { what } => {
            Error::corrupted(format!("code of slot {slot}: {what}"), chunk_key)
        }
        other => code_error(other, None),
    }
}
