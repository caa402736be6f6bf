//! Helper of the full-disk tests (tests/tests/cli/full_disk.rs): runs a program whose writes
//! fail as on a full disk, without root and without a small filesystem.
//!
//! Usage: `fsize_limit BYTES PROGRAM [ARGS...]`. Sets `RLIMIT_FSIZE` to BYTES: a write that
//! would take any file past BYTES fails with `EFBIG` ("File too large"), after writing what
//! fits, as a full disk fails with `ENOSPC`. Then it executes PROGRAM through `/bin/sh`, which
//! first sets `SIGXFSZ` to be ignored: the signal's default action kills the writer, and only
//! an ignored disposition survives `exec` (setting one directly needs `unsafe`, which the
//! workspace forbids; `trap '' XFSZ` is POSIX).

use std::process::ExitCode;

#[cfg(unix)]
fn main() -> ExitCode {
    use std::os::unix::process::CommandExt;

    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let [bytes, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: fsize_limit BYTES PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let Some(bytes) = bytes.to_str().and_then(|b| b.parse::<u64>().ok()) else {
        eprintln!("fsize_limit: BYTES is a number of bytes");
        return ExitCode::from(2);
    };
    let limit = rustix::process::Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Fsize, limit) {
        eprintln!("fsize_limit: setrlimit(RLIMIT_FSIZE): {e}");
        return ExitCode::from(127);
    }
    let e = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("trap '' XFSZ; exec \"$0\" \"$@\"")
        .arg(program)
        .args(rest)
        .exec();
    eprintln!("fsize_limit: cannot run /bin/sh: {e}");
    ExitCode::from(127)
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("fsize_limit: needs a Unix system");
    ExitCode::from(127)
}
