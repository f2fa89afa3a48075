use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The syslog priority journald reads from a `<N>` line prefix
/// (sd-daemon(3)), so `journalctl -p warning` shows warnings and errors.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Under journald: `<N>` then the usual line, without time (journald adds
/// it) and without the level word (the priority says it).
struct Journald(Format<tracing_subscriber::fmt::format::Full, ()>);

impl<S, N> FormatEvent<S, N> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

fn main() -> ExitCode {
    let cli = dnswatch::cli::Cli::parse();
    // Under systemd: journald adds the time and takes the priority from
    // the prefix. Colours only on a terminal (and not with NO_COLOR).
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cli.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if journald {
        let format = Format::default()
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false);
        builder
            .with_ansi(false)
            .fmt_fields(DefaultFields::new())
            .event_format(Journald(format))
            .init();
    } else {
        builder.with_ansi(ansi).init();
    }
    match dnswatch::app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let prefix = if journald { "<3>" } else { "" };
            eprintln!("{prefix}dnswatch: {}", e.message());
            ExitCode::from(e.code())
        }
    }
}
