//! Test data generators shared by the unit tests of the crate.

/// A 32-bit xorshift generator (13, 17, 5) seeded `state` (≠ 0).
pub(crate) fn xorshift32(mut state: u32) -> impl FnMut() -> u32 {
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    }
}

/// A 64-bit xorshift generator (13, 7, 17) seeded `state` (≠ 0).
pub(crate) fn xorshift64(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// `f` run in a fresh rayon pool of `threads` threads (tests that results
/// do not depend on the thread count).
pub(crate) fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a test thread pool")
        .install(f)
}
