use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use update_status_controller::cli::{self, Cli, Command};
use update_status_controller::{audit_format, commands, crds, logging};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = match args.first().and_then(|argv0| cli::plugin_invocation(argv0)) {
        Some(plugin) => Command::Status(cli::PluginCli::parse_as(plugin, args).status),
        None => Cli::parse_from(args).command,
    };
    match run(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), with colours only on a terminal.
/// Lines are batched in memory (see `logging`): a request never waits on a `write(2)` of its
/// audit line. The returned guard writes what is left when `main` ends.
fn init_logging() -> anyhow::Result<logging::FlushGuard> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = logging::batched(std::io::stderr())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if std::io::stderr().is_terminal() {
        builder.with_ansi(true).init();
    } else {
        // The same lines, audit lines written by a cheaper path (see `audit_format`).
        builder
            .with_ansi(false)
            .event_format(audit_format::AuditFast::new())
            .init();
    }
    Ok(guard)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Crds => print(&crds::yaml_stream()?)?,
        Command::Snapshot(args) => commands::snapshot::run(&args, std::io::stdout().lock())?,
        Command::Status(args) if commands::status::reads_a_file(&args) => {
            print(&commands::status::run(&args)?)?
        }
        Command::Status(args) if args.watch => {
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            runtime()?.block_on(commands::status_watch::watch(
                &args,
                &mut std::io::stdout().lock(),
                stop,
            ))?
        }
        Command::Status(args) => {
            let rendered = runtime()?.block_on(commands::status::run_cluster(&args))?;
            if let Some(warning) = &rendered.warning {
                eprintln!("{warning}");
            }
            print(&rendered.text)?
        }
        Command::Token(args) => print(&format!("{}\n", commands::token::run(&args)?))?,
        Command::Report(args) => {
            let answer = runtime()?.block_on(commands::report::run(&args))?;
            let pretty = serde_json::from_str::<serde_json::Value>(&answer.body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(answer.body.clone());
            print(&format!("{pretty}\n"))?;
            if !answer.accepted() {
                match answer.retry_after {
                    Some(secs) => eprintln!(
                        "error: the report was refused with HTTP {}; retry in {secs} s",
                        answer.status
                    ),
                    None => eprintln!("error: the report was refused with HTTP {}", answer.status),
                }
                return Ok(ExitCode::FAILURE);
            }
            let rejected =
                serde_json::from_str::<update_status_controller::api::wire::ReportResult>(
                    &answer.body,
                )
                .map(|r| r.rejected.len())
                .unwrap_or(0);
            if rejected > 0 {
                eprintln!("warning: {rejected} insight(s) were rejected; the others were accepted");
            }
        }
        Command::Serve(args) => {
            let _flush_logs_on_exit = init_logging()?;
            runtime()?.block_on(update_status_controller::serve::run(&args))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
