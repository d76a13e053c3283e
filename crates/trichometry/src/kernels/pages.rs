//! Large zero-filled buffers whose first touch is cheap.
//!
//! A fresh buffer past glibc's mmap threshold (at most 32 MiB; a buffer of
//! the size of one just freed is also mmapped) comes straight from the OS,
//! and every 4 KiB page of it faults when first written: a 12 MP f32 plane
//! is about 12 000 faults, several µs each in a virtual machine, and the
//! faults of two threads writing one plane in parallel contend in the
//! kernel. On the hair stage of a 12 MP image such faults were a quarter of
//! the CPU time, all of it on the same few planes every call. Advising
//! transparent huge pages for the buffer (Linux, where THP is in `madvise`
//! mode or `always`) turns them into one fault per 2 MiB. The contents
//! are the same: zeros, as `vec![0; n]` gives.

/// `n` zeros (`vec![T::default(); n]` for a type whose default is all-zero
/// bits, such as `f32`, `u32`, `bool`), with transparent huge pages advised
/// for the buffer's whole 2 MiB pages. Only worth it for buffers of several
/// MiB that are then written in full.
pub(crate) fn zeroed_vec<T: Clone + Default>(n: usize) -> Vec<T> {
    let mut v = vec![T::default(); n];
    advise_huge_pages(&mut v);
    v
}

/// `v` resized to `n` values for a caller that overwrites them all: its
/// allocation and contents where it is large enough (no page is faulted
/// or cleared; values past its length are defaults), else [`zeroed_vec`]
/// (a smaller allocation is dropped).
pub(crate) fn reuse_len<T: Clone + Default>(mut v: Vec<T>, n: usize) -> Vec<T> {
    if v.capacity() >= n {
        v.resize(n, T::default());
        v
    } else {
        zeroed_vec(n)
    }
}

/// Advise transparent huge pages for the whole 2 MiB pages inside `buf`
/// (best effort: the advice may be refused, nothing changes then).
#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(buf: &mut [T]) {
    use std::ffi::{c_int, c_void};
    const MADV_HUGEPAGE: c_int = 14;
    const HUGE: usize = 2 << 20;
    unsafe extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }
    let start = buf.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(buf);
    let (a, b) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
    if b > a {
        // SAFETY: [a, b) lies inside `buf`, memory this process owns and
        // that stays mapped while `buf` lives; MADV_HUGEPAGE only changes
        // how the kernel backs the range, never its contents.
        unsafe {
            madvise(a as *mut c_void, b - a, MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_buf: &mut [T]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_vectors_are_zero_and_writable() {
        for n in [0usize, 1, 1000, 3 << 20] {
            let mut v: Vec<f32> = zeroed_vec(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x.to_bits() == 0));
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as f32;
            }
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as f32));
        }
        let b: Vec<bool> = zeroed_vec(5 << 20);
        assert!(b.iter().all(|&x| !x));
        let l: Vec<u32> = zeroed_vec(5 << 20);
        assert!(l.iter().all(|&x| x == 0));
    }
}
