//! `expanse triggers APP_DIR --mongodb URI` runs an app's database and scheduled triggers until
//! interrupted; `expanse triggers status APP_DIR --mongodb URI` shows what each is doing;
//! `expanse triggers resume APP_DIR NAME --mongodb URI [--without-token]` resumes a suspended one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::EXIT_INVALID;
use crate::app::App;
use crate::functions::Functions;
use crate::store::MongoStore;
use crate::triggers::{self, TriggerOptions, Triggers};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TriggersArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Show each trigger's state: running, suspended (and why), last event, last error.
    Status(StatusArgs),
    /// Resume a suspended trigger.
    Resume(ResumeArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The exported app directory.
    app: Option<PathBuf>,
    /// The MongoDB the triggers watch (and where their state and leases are kept).
    #[arg(long)]
    mongodb: Option<String>,
    /// Seconds a lease lasts without renewal (another process takes over within this plus
    /// --poll after this one dies).
    #[arg(long, default_value_t = 30.0)]
    lease_ttl: f64,
    /// Seconds between attempts to take a lease held by another process.
    #[arg(long, default_value_t = 1.0)]
    poll: f64,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The exported app directory.
    app: PathBuf,
    /// The MongoDB holding the triggers' state.
    #[arg(long)]
    mongodb: String,
    /// `human` or `json`.
    #[arg(long, default_value = "human")]
    format: String,
}

#[derive(Debug, Args)]
struct ResumeArgs {
    /// The exported app directory.
    app: PathBuf,
    /// The trigger.
    name: String,
    /// The MongoDB holding the triggers' state.
    #[arg(long)]
    mongodb: String,
    /// Resume from the present: events since the suspension are not fired (as App Services'
    /// resume with `disable_token`). Without it the trigger resumes at its resume token.
    #[arg(long)]
    without_token: bool,
}

pub fn run(args: TriggersArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    runtime.block_on(async move {
        match args.action {
            Some(Action::Status(s)) => show_status(s).await,
            Some(Action::Resume(r)) => resume(r).await,
            None => serve(args.run).await,
        }
    })
}

fn invalid(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(EXIT_INVALID)
}

fn load(dir: &std::path::Path) -> Result<Arc<App>, ExitCode> {
    App::load(dir).map(|l| Arc::new(l.app)).map_err(invalid)
}

async fn connect(uri: &str) -> Result<MongoStore, ExitCode> {
    MongoStore::connect(uri).await.map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(1)
    })
}

fn seconds(value: f64, name: &str) -> Result<Duration, ExitCode> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| invalid(format!("--{name} must be a positive number of seconds")))
}

async fn serve(args: RunArgs) -> ExitCode {
    let Some(dir) = args.app else {
        return invalid(
            "expanse triggers: give the app directory (expanse triggers APP_DIR --mongodb URI)",
        );
    };
    let Some(uri) = args.mongodb else {
        return invalid(
            "expanse triggers: --mongodb URI is required (triggers watch MongoDB change streams)",
        );
    };
    let (app, lease_ttl, poll) = match (
        load(&dir),
        seconds(args.lease_ttl, "lease-ttl"),
        seconds(args.poll, "poll"),
    ) {
        (Ok(a), Ok(l), Ok(p)) => (a, l, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    let store = match connect(&uri).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let functions = match Functions::builder(app.clone(), store.clone()).build() {
        Ok((f, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            f
        }
        Err(e) => return invalid(e),
    };
    let options = TriggerOptions {
        lease_ttl,
        poll_interval: poll,
        heartbeat: Duration::from_secs(5).max(poll),
        ..TriggerOptions::default()
    };
    let holder = options.holder.clone();
    let running = Triggers::start(app, store, functions, options);
    for p in running.problems() {
        eprintln!("warning: {p}");
    }
    eprintln!(
        "running {} trigger(s) as {holder}: {}",
        running.names().len(),
        running.names().join(", ")
    );
    super::wait_for_signal().await;
    eprintln!("stopping: waiting for running functions to finish");
    running.stop().await;
    ExitCode::SUCCESS
}

async fn show_status(args: StatusArgs) -> ExitCode {
    let app = match load(&args.app) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let store = match connect(&args.mongodb).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let statuses = match triggers::status(&app, &store).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if args.format == "json" {
        let items: Vec<serde_json::Value> = statuses
            .iter()
            .map(|s| {
                let mut d =
                    bson::doc! {"name": &s.name, "type": &s.kind, "condition": s.condition()};
                if let Some(state) = &s.state {
                    d.insert("suspended", state.suspended.clone());
                    d.insert("events_processed", state.events_processed);
                    d.insert("errors", state.errors);
                    d.insert("last_event", state.last_event.clone());
                    d.insert("last_error", state.last_error.clone());
                    d.insert(
                        "last_tick",
                        state.last_tick.map(bson::DateTime::from_millis),
                    );
                    d.insert("heartbeat", state.heartbeat);
                }
                if let Some((holder, until)) = &s.lease {
                    d.insert("lease", bson::doc! {"holder": holder, "expires": until});
                }
                bson::Bson::Document(d).into_relaxed_extjson()
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return ExitCode::SUCCESS;
    }
    for s in &statuses {
        println!("{} ({}): {}", s.name, s.kind, s.condition());
        if let Some(state) = &s.state {
            if let Some(reason) = &state.suspended {
                println!("  suspended: {reason}");
            }
            println!(
                "  functions run: {} ({} failed)",
                state.events_processed, state.errors
            );
            if let Some(e) = &state.last_event {
                println!(
                    "  last event: {}",
                    bson::Bson::Document(e.clone()).into_relaxed_extjson()
                );
            }
            if let Some(e) = &state.last_error {
                println!(
                    "  last error: {}",
                    bson::Bson::Document(e.clone()).into_relaxed_extjson()
                );
            }
        }
        if let Some((holder, until)) = &s.lease {
            println!("  lease: {holder} until {until}");
        }
    }
    ExitCode::SUCCESS
}

async fn resume(args: ResumeArgs) -> ExitCode {
    let app = match load(&args.app) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let store = match connect(&args.mongodb).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    match triggers::resume(&app, &store, &args.name, !args.without_token).await {
        Ok(_) => {
            println!(
                "{} resumed {}",
                args.name,
                if args.without_token {
                    "from the present (events since the suspension are skipped)"
                } else {
                    "at its resume token"
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
