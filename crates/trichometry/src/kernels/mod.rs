//! Parallel building blocks on f32 planes and masks: Gaussian smoothing,
//! scale-normalised Hessian, morphology, connected components, distance
//! transform, thinning. Deterministic for any number of threads.
