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
