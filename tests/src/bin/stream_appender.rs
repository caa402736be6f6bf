//! Helper of the streamed-append kill test (tests/tests/cli/stream.rs): appends a JSON Lines
//! file through `Ledger::append_stream` in pieces of PIECE lines, prints `written <records>`
//! after each piece that reached sled, and after PAUSE pieces stops there (sleeps) to be
//! killed mid-stream: what it wrote is in sled, never acknowledged.
//!
//! Usage: `stream_appender DB FILE PIECE PAUSE`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use espp_engine::{now, Ledger, Options, StoreError, StreamLine, StreamOptions};
use espp_events::{parse_line, Actor};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, file, piece, pause] = args.as_slice() else {
        eprintln!("usage: stream_appender DB FILE PIECE PAUSE");
        return ExitCode::from(2);
    };
    let (Ok(piece), Ok(pause)) = (piece.parse::<usize>(), pause.parse::<u64>()) else {
        eprintln!("PIECE and PAUSE are integers");
        return ExitCode::from(2);
    };
    let input = match std::fs::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut ledger = match Ledger::open_or_create(&PathBuf::from(db), &Options::default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("open: {e}");
            return ExitCode::from(5);
        }
    };
    let lines = input.lines().enumerate().map(|(i, l)| {
        let text = l.map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(match parse_line(&text) {
            Ok(line) => StreamLine::Line(i + 1, line),
            Err(e) => StreamLine::Refused(i + 1, e.to_string()),
        })
    });
    let options = StreamOptions {
        actor: Actor::new("stream-appender").expect("a valid actor"),
        allow_future: true,
        again: false,
        piece_lines: piece,
    };
    let mut pieces = 0u64;
    let result = ledger.append_stream(lines, &options, now(), &mut |written| {
        pieces += 1;
        let mut out = std::io::stdout().lock();
        // If the test stopped reading, there is nobody left to tell.
        let _ = writeln!(out, "written {written}").and_then(|()| out.flush());
        if pieces >= pause {
            // Killed here, mid-stream.
            std::thread::sleep(std::time::Duration::from_secs(120));
        }
    });
    match result {
        Ok(report) => {
            println!("acknowledged {:?}", report.stored);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
