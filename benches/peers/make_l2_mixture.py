#!/usr/bin/env python3
"""Writes a Euclidean, non-normalised dataset that `hannoy-bench --metric euclidean` and
`peers.py --metric l2` both read: base.fvecs, queries.fvecs and groundtruth.ivecs (the
exact 100 nearest by L2, computed in float64, ties by id).

A mixture of Gaussian clusters whose centres, offsets and spreads differ by orders of
magnitude, so vector norms vary widely (unlike unit-normalised text embeddings): each
cluster has a centre drawn at its own scale, a spread drawn log-uniformly, and a decaying
per-dimension spectrum in its own random order (a low intrinsic dimension, as real
embeddings have). Queries are drawn from the same mixture. Fixed seed.

Usage: make_l2_mixture.py OUT_DIR [--n 28500] [--dim 384] [--queries 1000]
                                  [--clusters 64] [--seed 7]
Run it with the peers' venv: `$(benches/peers/run_peers.sh --python) make_l2_mixture.py ...`.
"""

import argparse
from pathlib import Path

import numpy as np


def write_vecs(path, rows, dtype):
    rows = np.ascontiguousarray(rows, dtype=dtype)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.int32)
    out[:, 0] = rows.shape[1]
    out[:, 1:] = rows.view(np.int32)
    out.tofile(path)


def mixture(rng, n_clusters, dim):
    centre_scale = np.exp(rng.uniform(np.log(0.5), np.log(20.0), n_clusters))
    centres = rng.standard_normal((n_clusters, dim)) * centre_scale[:, None]
    # A shared offset: the data is not centred on the origin.
    centres += rng.uniform(-3.0, 3.0, dim)
    spread = np.exp(rng.uniform(np.log(0.2), np.log(4.0), n_clusters))
    decay = np.arange(1, dim + 1, dtype=np.float64) ** -0.6
    spectra = np.stack([rng.permutation(decay) for _ in range(n_clusters)])
    weights = rng.dirichlet(np.full(n_clusters, 2.0))
    return centres, spread[:, None] * spectra, weights


def sample(rng, model, rows):
    centres, scales, weights = model
    which = rng.choice(len(weights), size=rows, p=weights)
    noise = rng.standard_normal((rows, centres.shape[1]))
    return (centres[which] + noise * scales[which]).astype(np.float32)


def exact_l2(base, queries, top, block=256):
    base64 = base.astype(np.float64)
    norms = (base64 * base64).sum(axis=1)
    ids = np.arange(len(base))
    out = np.empty((len(queries), top), dtype=np.int32)
    for start in range(0, len(queries), block):
        q = queries[start : start + block].astype(np.float64)
        dist = norms[None, :] - 2.0 * q @ base64.T + (q * q).sum(axis=1)[:, None]
        for row, d in enumerate(dist):
            near = np.argpartition(d, top + 20)[: top + 20]
            # Exact distances for the short list, then order by (distance, id).
            exact = ((base64[near] - q[row]) ** 2).sum(axis=1)
            order = np.lexsort((ids[near], exact))[:top]
            out[start + row] = near[order]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=28_500)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    model = mixture(rng, args.clusters, args.dim)
    base = sample(rng, model, args.n)
    queries = sample(rng, model, args.queries)
    truth = exact_l2(base, queries, 100)
    args.out.mkdir(parents=True, exist_ok=True)
    write_vecs(args.out / "base.fvecs", base, np.float32)
    write_vecs(args.out / "queries.fvecs", queries, np.float32)
    write_vecs(args.out / "groundtruth.ivecs", truth, np.int32)
    norms = np.linalg.norm(base, axis=1)
    print(f"{args.out}: {args.n} x {args.dim}, {args.queries} queries; norms "
          f"min {norms.min():.2f} median {np.median(norms):.2f} max {norms.max():.2f}")


if __name__ == "__main__":
    main()
