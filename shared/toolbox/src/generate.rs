//! `generate` (hidden): the man page and the shell completions of this binary, made from its
//! clap definitions and written to standard output, as `rg --generate` does; the packages
//! install them (packaging/build-debs.sh, packaging/brew/*.rb). `generate` is read before the
//! binary's own command line, so neither its help, its man page nor its completions show it.
//! Behind the `cli` feature.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Command, Parser, ValueEnum};
use clap_complete::Shell;

/// What `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The man page, in roff (man section 1).
    Man,
    /// The bash completion script.
    CompleteBash,
    /// The zsh completion script.
    CompleteZsh,
    /// The fish completion script.
    CompleteFish,
}

/// `BINARY generate TARGET`.
#[derive(Debug, Parser)]
#[command(
    name = "generate",
    about = "Write the man page or a shell completion script"
)]
struct Generate {
    /// What to write on standard output.
    #[arg(value_enum)]
    target: Target,
}

/// The target of `BINARY generate TARGET` when `args` (the whole command line) asks for it;
/// exits with clap's message when the target is missing or unknown.
pub fn requested(args: impl IntoIterator<Item = OsString>) -> Option<Target> {
    let mut args = args.into_iter().skip(1).peekable();
    if args.peek().is_none_or(|first| first != "generate") {
        return None;
    }
    Some(Generate::parse_from(args).target)
}

/// Writes `target` for `command` (the binary's whole command line) to `out`.
pub fn write(target: Target, mut command: Command, out: &mut dyn Write) -> io::Result<()> {
    let shell = match target {
        Target::Man => return clap_mangen::Man::new(command).render(out),
        Target::CompleteBash => Shell::Bash,
        Target::CompleteZsh => Shell::Zsh,
        Target::CompleteFish => Shell::Fish,
    };
    let name = command.get_name().to_owned();
    clap_complete::generate(shell, &mut command, name, out);
    Ok(())
}

/// Writes `target` for `command` on standard output; fails naming the binary and the reason.
pub fn print(target: Target, command: Command) -> ExitCode {
    let name = command.get_name().to_owned();
    match write(target, command, &mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: cannot write the {target:?} to standard output: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// A binary's command line, as the programs declare theirs.
    #[derive(Debug, clap::Parser)]
    #[command(name = "sample-binary", about = "A sample binary")]
    struct Cli {
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        /// Runs until stopped.
        Run,
        /// Checks the configuration.
        Check,
    }

    fn generated(target: Target) -> String {
        let mut out = Vec::new();
        write(target, Cli::command(), &mut out).expect("generate");
        String::from_utf8(out).expect("UTF-8")
    }

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn only_a_first_generate_argument_asks_for_it() {
        assert_eq!(requested(args("bin generate man")), Some(Target::Man));
        assert_eq!(
            requested(args("bin generate complete-fish")),
            Some(Target::CompleteFish)
        );
        assert_eq!(requested(args("bin")), None);
        assert_eq!(requested(args("bin --help generate")), None);
        assert!(Generate::try_parse_from(args("generate manual")).is_err());
    }

    #[test]
    fn every_target_names_the_binary_and_its_commands_but_not_generate() {
        let name = Cli::command().get_name().to_owned();
        let commands: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|command| command.get_name().to_owned())
            .collect();
        assert!(!commands.is_empty());
        let man = generated(Target::Man);
        assert!(man.contains(&format!(".TH {name} 1")), "{man}");
        for target in Target::value_variants() {
            let text = generated(*target);
            assert!(text.contains(&name), "{target:?}: {text}");
            for command in &commands {
                assert!(
                    text.contains(command.as_str()),
                    "{target:?} lacks {command}"
                );
            }
            assert!(
                !text.contains("generate"),
                "{target:?} shows generate: {text}"
            );
        }
    }
}
