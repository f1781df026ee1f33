use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use update_status_controller::cli::{Cli, Command};
use update_status_controller::crds;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Crds => {
            let yaml = crds::yaml_stream()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        other => {
            let name = format!("{other:?}").to_lowercase();
            let name = name.split(['(', ' ']).next().unwrap_or_default().to_owned();
            eprintln!("update-status-controller {name}: not built yet");
            Ok(ExitCode::from(2))
        }
    }
}
