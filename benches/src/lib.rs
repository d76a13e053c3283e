//! criterion benches of trichometry live in `benches/`.
