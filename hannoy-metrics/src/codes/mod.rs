//! TEMPORARY STUB (replaced by the codec branch at merge).
#![allow(missing_docs, unused_variables)]
use crate::VectorError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme { Sq8, RaBitQ1 }
impl Scheme {
    pub const ALL: &'static [Scheme] = &[Scheme::Sq8, Scheme::RaBitQ1];
    pub fn name(self) -> &'static str { match self { Scheme::Sq8 => "sq8", Scheme::RaBitQ1 => "rabitq1" } }
    pub fn from_name(name: &str) -> Option<Scheme> { Self::ALL.iter().copied().find(|s| s.name() == name) }
}
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    #[error("metric {metric} takes no codes")]
    UnsupportedMetric { metric: String },
    #[error("unknown scheme {name}")]
    UnknownScheme { name: String },
    #[error("corrupted: {what}")]
    Corrupted { what: String },
    #[error(transparent)]
    Vector(#[from] VectorError),
    #[error("dims {expected} {found}")]
    DimensionMismatch { expected: usize, found: usize },
}
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate { pub distance: f32, pub lower: f32 }
#[derive(Clone, Debug, PartialEq)]
pub struct Quantizer { scheme: Scheme, dims: usize, seed: u64, mean: Vec<f32> }
impl Quantizer {
    pub fn fit<'a>(scheme: Scheme, metric: &str, dims: usize, seed: u64, sample: impl IntoIterator<Item = &'a [f32]>) -> Result<Quantizer, CodeError> { unimplemented!() }
    pub fn scheme(&self) -> Scheme { self.scheme }
    pub fn dimensions(&self) -> usize { self.dims }
    pub fn seed(&self) -> u64 { self.seed }
    pub fn mean(&self) -> &[f32] { &self.mean }
    pub fn code_len(&self) -> usize { unimplemented!() }
    pub fn encode(&self, vector: &[f32], out: &mut Vec<u8>) -> Result<(), CodeError> { unimplemented!() }
    pub fn prepare(&self, query: &[f32]) -> Result<QueryCode, CodeError> { unimplemented!() }
    pub fn to_bytes(&self) -> Vec<u8> { unimplemented!() }
    pub fn from_bytes(bytes: &[u8]) -> Result<Quantizer, CodeError> { unimplemented!() }
}
pub struct QueryCode { }
impl QueryCode {
    pub fn distance(&self, code: &[u8]) -> f32 { unimplemented!() }
    pub fn estimate(&self, code: &[u8]) -> Estimate { unimplemented!() }
}
impl std::str::FromStr for Scheme {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> { Scheme::from_name(s).ok_or(CodeError::UnknownScheme { name: s.into() }) }
}
