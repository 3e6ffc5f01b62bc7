//! Shared pieces of the benchmarks. See `RESULTS.md` for what was measured and how.

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
