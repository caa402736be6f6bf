//! The commands that describe `espp` itself: the event reference (`events`), the JSON Schema
//! of an event line (`schema`), shell completions and the man page. None opens a ledger.

use std::io::Write;

use super::output;
use super::Failure;
use crate::Format;

/// `espp events`: the reference generated from the event table (`--format markdown` is
/// docs/events.md, kept equal to it by a test).
pub fn events(format: Format, out: &mut impl Write) -> Result<(), Failure> {
    output::print_event_reference(out, format)?;
    Ok(())
}

/// `espp schema`: the JSON Schema of one event line.
pub fn schema(out: &mut impl Write) -> Result<(), Failure> {
    output::print_json_pretty(out, &espp_events::catalogue::schema())?;
    Ok(())
}

/// `espp completions SHELL`: the shell's completion script for every command and option.
pub fn completions(
    shell: clap_complete::Shell,
    command: &mut clap::Command,
    out: &mut impl Write,
) -> Result<(), Failure> {
    clap_complete::generate(shell, command, "espp", out);
    Ok(())
}

/// `espp man`: the man page, `espp(1)`: the synopsis, every global option and the list of
/// subcommands (each one's own options are in `espp COMMAND --help`).
pub fn man(command: clap::Command, out: &mut impl Write) -> Result<(), Failure> {
    clap_mangen::Man::new(command).render(out)?;
    Ok(())
}
