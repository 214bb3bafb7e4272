//! `expanse test [PATH…] [--format human|json|junit] [--mongodb URI] [--filter TEXT]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::fixture::{find_fixtures, run_suite};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Fixture files, or directories searched for `*.test.json` (default: the current directory).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Run only tests whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Run against this MongoDB (each fixture file in a fresh database, dropped afterwards)
    /// instead of the embedded store.
    #[arg(long)]
    mongodb: Option<String>,
}

pub fn run(args: TestArgs) -> ExitCode {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = match find_fixtures(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match super::runtime(super::Threads::One) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let report = runtime.block_on(run_suite(
        &files,
        args.filter.as_deref(),
        args.mongodb.as_deref(),
    ));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match args.format {
        Format::Human => print!("{}", report.human()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.json()).unwrap_or_default()
        ),
        Format::Junit => print!("{}", report.junit()),
    }
    if report.has_invalid() {
        ExitCode::from(2)
    } else if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
