//! The command line: one binary, clap subcommands, every flag also settable from the environment.

use clap::{Parser, Subcommand};

/// update-status-controller: the server-side `oc adm upgrade status`.
#[derive(Parser, Debug)]
#[command(name = "update-status-controller", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller: the HTTPS informer endpoint, the built-in informers and the publisher.
    Serve,
    /// Compute the UpgradeStatus from a directory of objects once and print it as YAML.
    Snapshot,
    /// Render an UpgradeStatus as `oc adm upgrade status` does.
    Status,
    /// Push a report file to the informer endpoint, as a producer would.
    Report,
    /// Mint a development producer token with the development key (offline mode only).
    Token,
    /// Print the CustomResourceDefinitions of UpgradeStatus and UpdateInformer.
    Crds,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
