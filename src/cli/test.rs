//! `expanse test [PATH…] [--format human|json|junit] [--mongodb URI] [--filter TEXT]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::app::App;
use crate::fixture::{
    coverage_gaps, find_fixtures, load_fixture, run_fixture, MemorySandbox, Report, ReportFile,
};
use crate::rules::Coverage;

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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = runtime.block_on(run_all(&files, &args));
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

async fn run_all(files: &[PathBuf], args: &TestArgs) -> Result<Report, String> {
    if files.is_empty() {
        return Err("no fixture files (*.test.json) found".into());
    }
    let mongodb = match &args.mongodb {
        Some(uri) => Some(
            crate::fixture::MongoSandbox::connect(uri)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let coverage = Coverage::new();
    let mut apps: BTreeMap<PathBuf, std::sync::Arc<App>> = BTreeMap::new();
    let mut report = Report::default();
    for file in files {
        let mut entry = ReportFile {
            file: file.display().to_string(),
            tests: Vec::new(),
            invalid: Vec::new(),
            warnings: Vec::new(),
        };
        let fixture = match load_fixture(file) {
            Ok(f) => f,
            Err(e) => {
                entry.invalid = e.problems.iter().map(ToString::to_string).collect();
                report.files.push(entry);
                continue;
            }
        };
        let key = fixture
            .app
            .canonicalize()
            .unwrap_or_else(|_| fixture.app.clone());
        if !apps.contains_key(&key) {
            match App::load(&fixture.app) {
                Ok(loaded) => {
                    apps.insert(key.clone(), std::sync::Arc::new(loaded.app));
                }
                Err(e) => {
                    entry.invalid = e.errors.iter().map(ToString::to_string).collect();
                    report.files.push(entry);
                    continue;
                }
            }
        }
        let app = &apps[&key];
        entry.warnings = crate::fixture::likely_typos(&fixture, app);
        entry.tests = match &mongodb {
            None => {
                run_fixture(
                    &fixture,
                    app,
                    &MemorySandbox,
                    args.filter.as_deref(),
                    &coverage,
                )
                .await
            }
            Some(sandbox) => {
                let scoped = sandbox.for_file(file);
                let outcomes =
                    run_fixture(&fixture, app, &scoped, args.filter.as_deref(), &coverage).await;
                scoped.drop_database().await;
                outcomes
            }
        };
        report.files.push(entry);
    }
    let (total, uncovered) = coverage_gaps(apps.values().map(|a| a.as_ref()), &coverage);
    report.rule_items = total;
    report.uncovered = uncovered;
    Ok(report)
}
