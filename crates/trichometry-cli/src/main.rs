//! `trichometry`: the batch analyzer. One module per subcommand; the CLI only
//! converts arguments and results, the core does all the work.
//!
//! Exit codes: 0 = every file analysed, 1 = at least one file failed (its
//! record says why), 2 = usage error (bad flags, unreadable manifest).

mod analyze;
mod calib;
mod compare;
mod csvio;
mod manifest;
mod masks;
mod output;
mod synth;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Quantitative trichoscopy: capillary loops, erythema, hair shafts.
#[derive(Debug, Parser)]
#[command(name = "trichometry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse images: one JSON record per image.
    #[command(after_long_help = ANALYZE_AFTER_HELP)]
    Analyze(analyze::Args),
    /// Compare a baseline and a follow-up image of one spot.
    Compare(Box<compare::Args>),
    /// Render phantom images with exact ground truth.
    Synth(synth::Args),
}

const ANALYZE_AFTER_HELP: &str = "\
Output: one record per image, in input order; its keys are the CSV columns and \
the Python attributes (nested fields as provenance.version-style CSV columns). \
Units are in the names: *_um (µm), *_mm2 (mm²), *_per_cm2, *_per_mm2, \
*_fraction (0-1), erythema_a_star_* (CIELAB a*), erythema_index_* (100·log10(R/G)). \
Per-object tables (hairs, capillaries, yellow_dots) go to <out>_hairs.csv, … \
beside a CSV output. Every field is listed in the README's \"Output fields\".

A file that cannot be analysed gets a record with file, error and error_kind \
(io, decoding, unsupported, limits, parameter, colour_required, calibration, output, \
internal), a line on stderr, and the batch goes on. Output files appear only \
when the batch is done (written to temporary files first).

Exit codes: 0 = every file analysed, 1 = some file failed, 2 = usage error.";

/// A failure that ends the whole command (not one file's failure).
#[derive(Debug)]
pub enum Fatal {
    /// Bad flags or inputs: exit code 2.
    Usage(String),
    /// Anything else (an output that cannot be written): exit code 1.
    Runtime(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Compare(args) => compare::run(*args),
        Command::Synth(args) => synth::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Fatal::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Fatal::Runtime(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
