//! Unit tests of the quantizer's surface: names, validation, the stored form, corrupt codes.

use super::rotation::SplitMix64;
use super::*;
use crate::VectorError;
use pulp::Arch;

/// `rows` Gaussian rows of `dims` components around `offset`.
fn data(seed: u64, rows: usize, dims: usize, offset: f32) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(seed);
    let mut uniform = move || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..rows)
        .map(|_| {
            (0..dims)
                .map(|_| {
                    let r = (-2.0 * uniform().ln()).sqrt();
                    (r * (std::f64::consts::TAU * uniform()).cos()) as f32 + offset
                })
                .collect()
        })
        .collect()
}

fn fitted(scheme: Scheme, metric: &str, dims: usize) -> (Quantizer, Vec<Vec<f32>>) {
    let rows = data(dims as u64, 50, dims, 0.3);
    let q = Quantizer::fit(scheme, metric, dims, 11, rows.iter().map(Vec::as_slice)).unwrap();
    (q, rows)
}

const METRICS: [&str; 3] = ["euclidean", "cosine", "dot"];

#[test]
fn scheme_names_are_stable() {
    assert_eq!(
        Scheme::ALL,
        &[
            Scheme::Sq8,
            Scheme::RaBitQ1,
            Scheme::RaBitQ2,
            Scheme::RaBitQ4
        ]
    );
    for &s in Scheme::ALL {
        assert_eq!(Scheme::from_name(s.name()), Some(s));
        assert_eq!(s.to_string().parse::<Scheme>(), Ok(s));
    }
    assert_eq!(Scheme::Sq8.name(), "sq8");
    assert_eq!(Scheme::RaBitQ1.name(), "rabitq1");
    assert_eq!(Scheme::RaBitQ2.name(), "rabitq2");
    assert_eq!(Scheme::RaBitQ4.name(), "rabitq4");
    assert_eq!(
        "SQ8".parse::<Scheme>(),
        Err(CodeError::UnknownScheme { name: "SQ8".into() })
    );
}

#[test]
fn only_three_metrics_take_codes() {
    for metric in ["manhattan", "hamming", "bq_cosine", ""] {
        let err = Quantizer::fit(Scheme::Sq8, metric, 4, 0, []).unwrap_err();
        assert_eq!(
            err,
            CodeError::UnsupportedMetric {
                metric: metric.into()
            }
        );
    }
    for metric in METRICS {
        let q = Quantizer::fit(Scheme::RaBitQ1, metric, 4, 0, []).unwrap();
        assert_eq!(q.metric(), metric);
        assert_eq!(q.mean(), &[0.0; 4]);
    }
}

#[test]
fn fit_is_the_mean_and_validates_rows() {
    let rows: [&[f32]; 2] = [&[1.0, 2.0], &[3.0, -2.0]];
    let q = Quantizer::fit(Scheme::Sq8, "euclidean", 2, 5, rows).unwrap();
    assert_eq!(q.mean(), &[2.0, 0.0]);
    assert_eq!((q.dimensions(), q.seed(), q.scheme()), (2, 5, Scheme::Sq8));
    // Cosine normalizes each row first.
    let rows: [&[f32]; 2] = [&[3.0, 0.0], &[0.0, 0.5]];
    let q = Quantizer::fit(Scheme::Sq8, "cosine", 2, 5, rows).unwrap();
    assert_eq!(q.mean(), &[0.5, 0.5]);
    let bad: [&[f32]; 1] = [&[1.0]];
    assert_eq!(
        Quantizer::fit(Scheme::Sq8, "dot", 2, 5, bad),
        Err(CodeError::DimensionMismatch {
            expected: 2,
            found: 1
        })
    );
    let bad: [&[f32]; 1] = [&[1.0, f32::NAN]];
    assert_eq!(
        Quantizer::fit(Scheme::Sq8, "dot", 2, 5, bad),
        Err(CodeError::Vector(VectorError::NonFinite { index: 1 }))
    );
    let zero: [&[f32]; 1] = [&[0.0, 0.0]];
    assert_eq!(
        Quantizer::fit(Scheme::Sq8, "cosine", 2, 5, zero),
        Err(CodeError::Vector(VectorError::ZeroNorm))
    );
    assert!(Quantizer::fit(Scheme::Sq8, "dot", 2, 5, zero).is_ok());
    assert_eq!(
        Quantizer::fit(Scheme::Sq8, "dot", MAX_DIMENSIONS + 1, 5, []),
        Err(CodeError::DimensionMismatch {
            expected: MAX_DIMENSIONS,
            found: MAX_DIMENSIONS + 1
        })
    );
}

#[test]
fn code_lengths() {
    for (dims, sq8, rabitq) in [(384, 404, 64), (1, 84, 24), (100, 148, 32), (0, 84, 24)] {
        let q = Quantizer::fit(Scheme::Sq8, "dot", dims, 0, []).unwrap();
        assert_eq!(q.code_len(), sq8, "{dims}");
        let q = Quantizer::fit(Scheme::RaBitQ1, "dot", dims, 0, []).unwrap();
        assert_eq!(q.code_len(), rabitq, "{dims}");
        let q = Quantizer::fit(Scheme::RaBitQ4, "dot", dims, 0, []).unwrap();
        assert_eq!(q.code_len(), 4 * (rabitq - 16) + 20, "{dims}");
    }
}

#[test]
fn encode_appends_exactly_or_nothing() {
    for &scheme in Scheme::ALL {
        for metric in METRICS {
            let (q, rows) = fitted(scheme, metric, 37);
            let mut out = vec![9u8];
            q.encode(&rows[0], &mut out).unwrap();
            assert_eq!(out.len(), 1 + q.code_len());
            let before = out.clone();
            assert!(matches!(
                q.encode(&rows[0][..36], &mut out),
                Err(CodeError::DimensionMismatch { .. })
            ));
            let mut nan = rows[0].clone();
            nan[5] = f32::INFINITY;
            assert_eq!(
                q.encode(&nan, &mut out),
                Err(CodeError::Vector(VectorError::NonFinite { index: 5 }))
            );
            assert!(q.prepare(&nan).is_err());
            if metric == "cosine" {
                assert_eq!(
                    q.encode(&[0.0; 37], &mut out),
                    Err(CodeError::Vector(VectorError::ZeroNorm))
                );
            } else {
                // The zero vector is fine elsewhere (it is just far from the centre).
                let mut zero = Vec::new();
                q.encode(&[0.0; 37], &mut zero).unwrap();
                assert!(q.prepare(&[0.0; 37]).unwrap().distance(&zero).is_finite());
            }
            assert_eq!(out, before);
        }
    }
}

#[test]
fn stored_form_round_trips() {
    for &scheme in Scheme::ALL {
        for metric in METRICS {
            // One centre (format version 1) and several (version 2).
            for (q, rows) in [fitted(scheme, metric, 100), with_centres(scheme, metric, 4)] {
                let bytes = q.to_bytes();
                let back = Quantizer::from_bytes(&bytes).unwrap();
                assert_eq!(back, q);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                q.encode(&rows[1], &mut a).unwrap();
                back.encode(&rows[1], &mut b).unwrap();
                assert_eq!(a, b);
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_corrupted() {
    let (q, _) = fitted(Scheme::RaBitQ1, "cosine", 20);
    let bytes = q.to_bytes();
    for end in 0..bytes.len() {
        assert!(
            matches!(
                Quantizer::from_bytes(&bytes[..end]),
                Err(CodeError::Corrupted { .. })
            ),
            "{end}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Quantizer::from_bytes(&longer),
        Err(CodeError::Corrupted { .. })
    ));
}

#[test]
fn each_field_is_checked() {
    let (q, _) = fitted(Scheme::Sq8, "dot", 3);
    let bytes = q.to_bytes();
    let patched = |at: usize, with: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + with.len()].copy_from_slice(with);
        Quantizer::from_bytes(&b)
    };
    let corrupted = |r: Result<Quantizer, CodeError>| matches!(r, Err(CodeError::Corrupted { .. }));
    assert!(corrupted(patched(0, b"X")));
    assert!(corrupted(patched(4, &3u16.to_le_bytes())));
    // Scheme "sq8" at 7..10, metric "dot" at 11..14, dims at 14.
    assert_eq!(
        patched(7, b"sq9"),
        Err(CodeError::Corrupted {
            what: "unknown scheme \"sq9\"".into()
        })
    );
    assert!(corrupted(patched(7, &[0xff])));
    assert_eq!(
        patched(11, b"l1_"),
        Err(CodeError::Corrupted {
            what: "metric \"l1_\" takes no codes".into()
        })
    );
    assert!(corrupted(patched(14, &u32::MAX.to_le_bytes())));
    assert!(corrupted(patched(14, &4u32.to_le_bytes())));
    assert!(corrupted(patched(26, &f32::NAN.to_le_bytes())));
    assert!(corrupted(patched(30, &f32::INFINITY.to_le_bytes())));
}

#[test]
fn garbage_never_panics() {
    let mut rng = SplitMix64::new(77);
    let (q, _) = fitted(Scheme::Sq8, "euclidean", 8);
    let good = q.to_bytes();
    for round in 0..20_000 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            let len = (rng.next_u64() % 80) as usize;
            (0..len).map(|_| rng.next_u64() as u8).collect()
        } else {
            // A valid form with a few random bytes changed.
            let mut b = good.clone();
            for _ in 0..1 + rng.next_u64() % 3 {
                let at = (rng.next_u64() % b.len() as u64) as usize;
                b[at] = rng.next_u64() as u8;
            }
            b
        };
        if let Ok(q) = Quantizer::from_bytes(&bytes) {
            // Whatever decodes is a working quantizer.
            let v = vec![0.5; q.dimensions()];
            let mut code = Vec::new();
            if q.encode(&v, &mut code).is_ok() {
                assert!(!q.prepare(&v).unwrap().distance(&code).is_nan());
            }
        }
    }
}

#[test]
fn corrupt_codes_are_never_nan() {
    let mut rng = SplitMix64::new(5);
    for &scheme in Scheme::ALL {
        for metric in METRICS {
            let (q, rows) = fitted(scheme, metric, 64);
            let query = q.prepare(&rows[2]).unwrap();
            let mut code = Vec::new();
            q.encode(&rows[3], &mut code).unwrap();
            for len in [0, 1, code.len() - 1, code.len() + 1] {
                let wrong = vec![0u8; len];
                let e = query.estimate(&wrong);
                assert_eq!(e.distance, f32::INFINITY);
                assert!(e.lower <= e.distance);
            }
            let fields = if scheme == Scheme::RaBitQ1 { 4 } else { 5 };
            let factors = code.len() - 4 * fields;
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -1.0, 1e38] {
                for field in 0..fields {
                    let mut c = code.clone();
                    c[factors + 4 * field..factors + 4 * field + 4]
                        .copy_from_slice(&bad.to_le_bytes());
                    let e = query.estimate(&c);
                    assert!(
                        !e.distance.is_nan() && !e.lower.is_nan(),
                        "{bad} in {field}"
                    );
                    assert!(e.lower <= e.distance);
                }
            }
            for _ in 0..2000 {
                let c: Vec<u8> = (0..code.len()).map(|_| rng.next_u64() as u8).collect();
                let e = query.estimate(&c);
                assert!(!e.distance.is_nan() && !e.lower.is_nan());
                assert!(e.lower <= e.distance);
            }
        }
    }
}

#[test]
fn same_bits_on_every_instruction_set() {
    for &scheme in Scheme::ALL {
        for metric in METRICS {
            let (q, rows) = fitted(scheme, metric, 300);
            let fast = q.prepare(&rows[0]).unwrap();
            let mut scalar = fast.clone();
            scalar.arch = Arch::Scalar;
            for row in &rows[1..] {
                let mut code = Vec::new();
                q.encode(row, &mut code).unwrap();
                let (a, b) = (fast.estimate(&code), scalar.estimate(&code));
                assert_eq!(a.distance.to_bits(), b.distance.to_bits());
                assert_eq!(a.lower.to_bits(), b.lower.to_bits());
            }
        }
    }
}

#[test]
fn a_vector_is_close_to_itself() {
    for &scheme in Scheme::ALL {
        let (q, rows) = fitted(scheme, "cosine", 128);
        let mut code = Vec::new();
        q.encode(&rows[4], &mut code).unwrap();
        let e = q.prepare(&rows[4]).unwrap().estimate(&code);
        assert!(e.distance.abs() < 0.05, "{scheme}: {e:?}");
        assert!(e.lower <= 0.0 + 1e-6, "{scheme}: {e:?}");
    }
}

#[test]
fn extreme_magnitudes_never_panic_nor_give_nan() {
    let huge = [f32::MAX, -f32::MAX, 1e30, f32::MIN_POSITIVE, 0.0, 3.0];
    for &scheme in Scheme::ALL {
        for metric in METRICS {
            let q = Quantizer::fit(scheme, metric, 6, 3, [&huge[..], &[1.0; 6][..]]).unwrap();
            for v in [&huge[..], &[1e-30; 6][..], &[f32::MAX; 6][..]] {
                let mut code = Vec::new();
                q.encode(v, &mut code).unwrap();
                assert_eq!(code.len(), q.code_len());
                for w in [&huge[..], &[1.0; 6][..]] {
                    let e = q.prepare(w).unwrap().estimate(&code);
                    assert!(
                        !e.distance.is_nan() && !e.lower.is_nan(),
                        "{scheme} {metric}"
                    );
                    assert!(e.lower <= e.distance, "{scheme} {metric}: {e:?}");
                }
            }
        }
    }
}

#[test]
fn sq8_decodes_close_to_the_vector_and_the_others_refuse() {
    for metric in METRICS {
        for dims in [3, 64, 100, 384] {
            let (q, rows) = fitted(Scheme::Sq8, metric, dims);
            for row in &rows[..5] {
                let mut code = Vec::new();
                q.encode(row, &mut code).unwrap();
                let back = q.decode(&code).unwrap();
                assert_eq!(back.len(), dims);
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                // Cosine codes stand for the normalized vector.
                let want: Vec<f32> = match metric {
                    "cosine" => row.iter().map(|x| x / norm).collect(),
                    _ => row.clone(),
                };
                let scale = want.iter().map(|x| x * x).sum::<f32>().sqrt();
                let error = want
                    .iter()
                    .zip(&back)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    .sqrt();
                assert!(error < 0.02 * scale, "{metric} {dims}: error {error}");
            }
            let mut code = Vec::new();
            q.encode(&rows[0], &mut code).unwrap();
            assert!(matches!(
                q.decode(&code[1..]),
                Err(CodeError::Corrupted { .. })
            ));
            let last = code.len() - 16;
            code[last..last + 4].copy_from_slice(&f32::NAN.to_le_bytes());
            assert!(matches!(q.decode(&code), Err(CodeError::Corrupted { .. })));
        }
    }
    assert!(Scheme::Sq8.decodes());
    for scheme in [Scheme::RaBitQ1, Scheme::RaBitQ2, Scheme::RaBitQ4] {
        assert!(!scheme.decodes());
        let (q, rows) = fitted(scheme, "euclidean", 64);
        let mut code = Vec::new();
        q.encode(&rows[0], &mut code).unwrap();
        assert_eq!(
            q.decode(&code),
            Err(CodeError::NotDecodable {
                scheme: scheme.name()
            })
        );
    }
}

/// A quantizer with `k` centres fitted on 200 rows of two clusters far apart.
fn with_centres(scheme: Scheme, metric: &str, k: usize) -> (Quantizer, Vec<Vec<f32>>) {
    let rows: Vec<Vec<f32>> = data(5, 200, 8, 0.0)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.iter().map(|&x| x * 0.1 + (i % 2) as f32 * 50.0).collect())
        .collect();
    let q = Quantizer::fit_with_centres(
        scheme,
        metric,
        8,
        3,
        Some(k),
        rows.iter().map(Vec::as_slice),
    )
    .unwrap();
    (q, rows)
}

#[test]
fn one_centre_keeps_the_version_1_form_several_write_version_2() {
    let (one, _) = fitted(Scheme::Sq8, "euclidean", 8);
    assert_eq!(one.centres(), 1);
    assert_eq!(&one.to_bytes()[4..6], &1u16.to_le_bytes());
    let (several, _) = with_centres(Scheme::Sq8, "euclidean", 4);
    assert_eq!(several.centres(), 4);
    assert_eq!(several.code_len(), one.code_len() + 2);
    assert_eq!(&several.to_bytes()[4..6], &2u16.to_le_bytes());
    // Fewer rows than centres: never more centres than rows; 0 and 1 mean the mean alone.
    let rows = [vec![1.0f32, 2.0], vec![3.0, 4.0]];
    let fit = |k| {
        Quantizer::fit_with_centres(
            Scheme::Sq8,
            "dot",
            2,
            0,
            Some(k),
            rows.iter().map(Vec::as_slice),
        )
        .unwrap()
        .centres()
    };
    assert_eq!((fit(0), fit(1), fit(2), fit(9)), (1, 1, 2, 2));
    assert!(matches!(
        Quantizer::fit_with_centres(Scheme::Sq8, "dot", 2, 0, Some(MAX_CENTRES + 1), []),
        Err(CodeError::DimensionMismatch { .. })
    ));
}

#[test]
fn several_centres_every_damage_is_corrupted() {
    let (q, _) = with_centres(Scheme::Sq8, "dot", 3);
    let bytes = q.to_bytes();
    for end in 0..bytes.len() {
        assert!(Quantizer::from_bytes(&bytes[..end]).is_err(), "{end}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Quantizer::from_bytes(&longer).is_err());
    // The count sits after magic, version, "sq8", "dot", dims, seed and the mean.
    let count_at = 4 + 2 + 4 + 4 + 4 + 8 + 4 * 8;
    assert_eq!(&bytes[count_at..count_at + 4], &3u32.to_le_bytes());
    for count in [0u32, 1, 4, (MAX_CENTRES + 1) as u32, u32::MAX] {
        let mut b = bytes.clone();
        b[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        assert!(
            matches!(Quantizer::from_bytes(&b), Err(CodeError::Corrupted { .. })),
            "{count}"
        );
    }
    let mut b = bytes.clone();
    let last = b.len() - 4;
    b[last..].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(matches!(
        Quantizer::from_bytes(&b),
        Err(CodeError::Corrupted { .. })
    ));
}

#[test]
fn a_code_naming_no_centre_is_unusable_never_a_panic() {
    let (q, rows) = with_centres(Scheme::Sq8, "euclidean", 4);
    let mut code = Vec::new();
    q.encode(&rows[0], &mut code).unwrap();
    let query = q.prepare(&rows[1]).unwrap();
    assert!(query.distance(&code).is_finite());
    let at = code.len() - 2;
    code[at..].copy_from_slice(&4u16.to_le_bytes());
    assert_eq!(query.distance(&code), f32::INFINITY);
    assert_eq!(query.estimate(&code).lower, f32::INFINITY);
    assert!(matches!(q.decode(&code), Err(CodeError::Corrupted { .. })));
}

#[test]
fn several_centres_decode_close_and_estimate_exactly_enough() {
    for metric in METRICS {
        let (q, rows) = with_centres(Scheme::Sq8, metric, 2);
        for row in &rows[..20] {
            let mut code = Vec::new();
            q.encode(row, &mut code).unwrap();
            let back = q.decode(&code).unwrap();
            let want: Vec<f32> = if metric == "cosine" {
                let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.iter().map(|x| x / n).collect()
            } else {
                row.clone()
            };
            // The step spans the row's spread around its own cluster (0.1 x noise), not
            // the clusters' distance (50).
            let error = back
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(error < 0.01, "{metric}: {error}");
            // A code against its own vector: distance near zero (Euclidean), near the
            // exact value otherwise, and the lower bound below the exact value.
            let e = q.prepare(row).unwrap().estimate(&code);
            assert!(e.lower <= e.distance);
            if metric == "euclidean" {
                // The query's own 8-bit steps span its offset from the mean (about 70
                // here), so its share of the error remains: 0.06 measured, against a
                // squared distance of 20,000 between the clusters.
                assert!(e.distance < 0.2 && e.lower <= 0.0, "{e:?}");
            }
        }
    }
}
