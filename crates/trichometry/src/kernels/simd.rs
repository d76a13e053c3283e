//! Run-time CPU feature dispatch for the hot loops.
//!
//! Kernels are written once as plain (auto-vectorisable) Rust in an
//! `#[inline(always)]` function; [`dispatch!`] compiles a second copy with
//! AVX2 (and FMA, AVX-512 where present) enabled and picks it at run time.
//! The copies execute the same sequence of IEEE operations per element (Rust
//! never contracts `a * b + c` into an FMA on its own), so their results are
//! bit-identical; only the vector width differs.

/// True when the AVX2 copy of the kernels can run on this CPU.
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the AVX-512 (F + BW + VL) copy of the kernels can run.
#[inline]
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && has_avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `dispatch!(fn name(args: T, ...) -> R => body_fn);` defines `name`, which
/// calls the `#[inline(always)]` function `body_fn` compiled for AVX-512,
/// AVX2 + FMA or the baseline target, whichever the CPU supports.
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$($g:ident : $b:path),*>)? ($($a:ident : $t:ty),* $(,)?) $(-> $r:ty)? => $body:path) => {
        $(#[$m])*
        $vis fn $name $(<$($g: $b),*>)? ($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512 $(<$($g: $b),*>)? ($($a: $t),*) $(-> $r)? { $body($($a),*) }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2 $(<$($g: $b),*>)? ($($a: $t),*) $(-> $r)? { $body($($a),*) }
                if $crate::kernels::simd::has_avx512() {
                    // SAFETY: the CPU supports every feature `avx512` is compiled with
                    // (checked at run time just above); the body is safe Rust.
                    return unsafe { avx512($($a),*) };
                }
                if $crate::kernels::simd::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked at run time just
                    // above); the body is safe Rust.
                    return unsafe { avx2($($a),*) };
                }
            }
            $body($($a),*)
        }
    };
}
pub(crate) use dispatch;

/// Ask the CPU to bring the cache lines of `s` into its caches (a hint:
/// nothing is read or changed). For loops that jump between rows of a large
/// plane, whose next rows would otherwise miss one after another.
#[inline]
pub(crate) fn prefetch<T>(s: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = s.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(s);
        let mut off = 0;
        while off < bytes {
            // SAFETY: SSE is part of the x86_64 baseline; a prefetch never
            // faults or reads into the program (the address lies in `s`).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off)) };
            off += 64;
        }
        if bytes > 0 {
            // SAFETY: as above.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(bytes - 1)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}
