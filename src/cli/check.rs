//! `expanse check APP_DIR [--strict] [--format human|json]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::check::check;
use crate::diagnostic::Diagnostic;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The exported app directory.
    app: PathBuf,
    /// Treat operators App Services did not document for rules as errors.
    #[arg(long)]
    strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Also check this live MongoDB for indexes supporting the pushed-down rules.
    #[arg(long)]
    mongodb: Option<String>,
}

fn to_json(d: &Diagnostic) -> serde_json::Value {
    serde_json::json!({
        "file": d.at.file.as_ref(),
        "line": d.at.line,
        "col": d.at.col,
        "message": d.message,
        "hint": d.hint,
    })
}

pub fn run(args: CheckArgs) -> ExitCode {
    let mut report = check(&args.app, args.strict);
    if let (Some(uri), true) = (&args.mongodb, report.errors.is_empty()) {
        match advise(&args.app, uri) {
            Ok(warnings) => report.warnings.extend(warnings),
            Err(e) => report.errors.push(Diagnostic {
                at: crate::Location::new(uri.clone(), 1, 1),
                message: e,
                hint: None,
            }),
        }
    }
    match args.format {
        Format::Json => {
            let out = serde_json::json!({
                "app": args.app.display().to_string(),
                "errors": report.errors.iter().map(to_json).collect::<Vec<_>>(),
                "warnings": report.warnings.iter().map(to_json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Human => {
            for e in &report.errors {
                println!("error: {e}");
            }
            for w in &report.warnings {
                println!("warning: {w}");
            }
            println!(
                "{}: {} error(s), {} warning(s)",
                args.app.display(),
                report.errors.len(),
                report.warnings.len()
            );
        }
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn advise(app: &std::path::Path, uri: &str) -> Result<Vec<Diagnostic>, String> {
    let app = crate::app::App::load(app).map_err(|e| e.to_string())?.app;
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = crate::store::MongoStore::connect(uri)
            .await
            .map_err(|e| e.to_string())?;
        crate::check::index_advice(&app, &store)
            .await
            .map_err(|e| e.to_string())
    })
}
