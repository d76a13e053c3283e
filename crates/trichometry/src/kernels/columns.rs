//! Column-wise helpers: run a 1-D operation down every column in parallel
//! without scheduling-dependent output (each column is written by exactly one task).

use rayon::prelude::*;

/// Columns per strip: 16 × 4 bytes = one cache line per row.
pub(crate) const STRIP: usize = 16;

/// Apply `op(column_in, column_out)` to every column of a row-major
/// `width × height` buffer and return the row-major result.
///
/// Strips of [`STRIP`] columns are processed in parallel into a strip-major
/// scratch buffer, which is then reassembled row by row (also in parallel).
pub(crate) fn map_columns<T, U, F>(src: &[T], width: usize, height: usize, op: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default,
    F: Fn(&[T], &mut [U]) + Sync,
{
    assert_eq!(src.len(), width * height, "column map buffer size");
    if width == 0 || height == 0 {
        return Vec::new();
    }
    let strips = width.div_ceil(STRIP);
    // Strip-major: strip s holds rows of STRIP values (the last strip padded).
    let mut scratch = vec![U::default(); strips * STRIP * height];
    scratch
        .par_chunks_mut(STRIP * height)
        .enumerate()
        .for_each_init(
            || (Vec::with_capacity(height), vec![U::default(); height]),
            |(col_in, col_out), (s, strip)| {
                let x0 = s * STRIP;
                let x1 = (x0 + STRIP).min(width);
                for x in x0..x1 {
                    col_in.clear();
                    col_in.extend((0..height).map(|y| src[y * width + x]));
                    op(col_in, col_out);
                    let lane = x - x0;
                    for (y, &v) in col_out.iter().enumerate() {
                        strip[y * STRIP + lane] = v;
                    }
                }
            },
        );
    let mut out = vec![U::default(); width * height];
    out.par_chunks_mut(width)
        .enumerate()
        .for_each(|(y, row)| strip_row(&scratch, height, y, row));
    out
}

/// Copy row `y` out of a strip-major buffer (see [`map_columns`]).
#[inline]
pub(crate) fn strip_row<U: Copy>(scratch: &[U], height: usize, y: usize, row: &mut [U]) {
    for (s, chunk) in row.chunks_mut(STRIP).enumerate() {
        let base = s * STRIP * height + y * STRIP;
        chunk.copy_from_slice(&scratch[base..base + chunk.len()]);
    }
}
