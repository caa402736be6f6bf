//! Shared helpers of the CLI tests: finding (and building) the `espp` binary, a temp-dir
//! ledger to run it against, and readers of its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The `espp` binary of this build.
///
/// `env!("CARGO_BIN_EXE_espp")` only exists for binaries of the package under test, and
/// `espp` belongs to `espp-engine`; artifact dependencies are unstable. So: the test binary
/// lives in `target/<profile>/deps/`, `espp` in `target/<profile>/`, and on first use we run
/// `cargo build -p espp-engine --bin espp` for that same target directory and profile. When
/// the binary is fresh that is a no-op of a fraction of a second; when the engine changed it
/// rebuilds, so a test never runs a stale `espp` (checking mtimes would miss a change to a
/// dependency). `cargo test` has released the build-directory lock by the time tests run.
/// `ESPP_BIN` overrides all of this (CI that builds the binary first, cross targets).
pub fn espp_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ESPP_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("the test binary's path");
        let deps = exe.parent().expect("target/<profile>/deps");
        let profile_dir = deps.parent().expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile directory name");
        // `cargo test` builds into `debug` (the test profile inherits dev's directory).
        let profile = match profile {
            "debug" => "dev",
            other => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "espp-engine", "--bin", "espp"])
            .arg("--profile")
            .arg(profile)
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(target_dir)
            .stdin(Stdio::null())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p espp-engine failed");
        let bin = profile_dir.join(format!("espp{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// Waits until nothing in this process holds sled's lock on `db`'s data file, or the lock
/// on `espp.lock`, any more.
///
/// Dropping a `Ledger` (or a `sled::Db`) releases `espp.lock` at once, but sled's background
/// jobs may keep its data file, and the lock on it, open a little longer; an `espp` started
/// in that window is (rightly) busy. And a child that another test spawns while a file is
/// open here holds a copy of its descriptor (and so the `flock` on it) until it has exec'd,
/// which on two loaded cores can outlast the file's close here. Tests that hand a ledger from
/// this process to another wait here first.
pub fn wait_until_closed(db: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for path in [db.join("log").join("db"), db.join("espp.lock")] {
        loop {
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("{} stays locked: {e}", path.display()),
            }
        }
    }
}

/// Runs `open` until it does not fail on a lock held elsewhere, for up to 10 s.
///
/// Why a test needs it after [`wait_until_closed`] said the ledger was free: a lock is
/// `flock`'s, held by an open file description, and every child process another test
/// thread forks shares the descriptions open at that moment until it execs (they are
/// close-on-exec). A probe's or a just-dropped ledger's lock can so outlive its file by the
/// milliseconds a loaded machine takes to exec a child. `espp` itself reports that as busy
/// (exit 3, or `--wait`); only a test that reopens in-process at once meets it.
pub fn while_busy<T, E: std::fmt::Display>(mut open: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open() {
            Err(e)
                if (e.to_string().contains("could not acquire lock")
                    || e.to_string().contains("is busy"))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The path of a binary of this package (the crash test's appender, the full-disk tests'
/// size limiter).
pub fn own_bin(name: &str) -> PathBuf {
    match name {
        "crash_appender" => PathBuf::from(env!("CARGO_BIN_EXE_crash_appender")),
        "fsize_limit" => PathBuf::from(env!("CARGO_BIN_EXE_fsize_limit")),
        "stream_appender" => PathBuf::from(env!("CARGO_BIN_EXE_stream_appender")),
        other => panic!("no binary {other} in espp-tests"),
    }
}

/// What a run of `espp` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            // A signal has no code: -1 can never match an expectation.
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stdout_bytes: out.stdout,
        }
    }

    /// Panics with the whole run unless it exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless stderr contains `s`.
    #[track_caller]
    pub fn stderr_has(&self, s: &str) -> &Run {
        assert!(
            self.stderr.contains(s),
            "stderr should contain {s:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics unless stdout contains `s`.
    #[track_caller]
    pub fn stdout_has(&self, s: &str) -> &Run {
        assert!(
            self.stdout.contains(s),
            "stdout should contain {s:?}:\n{}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A temporary directory with a ledger path in it (not created until something appends).
#[derive(Debug)]
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::Builder::new()
                .prefix("espp-cli-")
                .tempdir()
                .expect("a temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The default ledger of this directory.
    pub fn db(&self) -> PathBuf {
        self.path().join("ledger")
    }

    /// Writes `contents` into a file of this directory and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, contents).expect("write a test file");
        p
    }

    /// Runs `espp --db <db> <args>` (in this directory, with a fixed actor).
    pub fn espp_at(&self, db: &Path, args: &[&str]) -> Run {
        run_espp(self.path(), Some(db), args, None)
    }

    /// Runs `espp --db <db> <args>` on the default ledger.
    pub fn espp(&self, args: &[&str]) -> Run {
        self.espp_at(&self.db(), args)
    }

    /// `espp append FILE` of `contents` into `db`.
    pub fn append_at(&self, db: &Path, contents: impl AsRef<[u8]>) -> Run {
        let f = self.file("input.jsonl", contents);
        self.espp_at(db, &["append", f.to_str().expect("a UTF-8 path")])
    }

    /// `espp append FILE` of `contents` into the default ledger.
    pub fn append(&self, contents: impl AsRef<[u8]>) -> Run {
        self.append_at(&self.db(), contents)
    }

    /// `espp append --allow-future FILE` of `contents` into the default ledger: for
    /// histories that run past the day the tests run.
    pub fn append_future(&self, contents: impl AsRef<[u8]>) -> Run {
        let f = self.file("input.jsonl", contents);
        self.espp(&[
            "append",
            "--allow-future",
            f.to_str().expect("a UTF-8 path"),
        ])
    }

    /// `espp <args> --format json` on the default ledger, which must succeed: its JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let r = self.espp(&all);
        r.expect_code(0);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
    }

    /// `espp export` of `db`: its bytes, after checking it succeeded.
    #[track_caller]
    pub fn export_at(&self, db: &Path) -> Vec<u8> {
        let r = self.espp_at(db, &["export"]);
        r.expect_code(0);
        r.stdout_bytes
    }

    #[track_caller]
    pub fn export(&self) -> Vec<u8> {
        self.export_at(&self.db())
    }
}

/// Runs the binary with a clean environment for the options it reads.
pub fn run_espp(cwd: &Path, db: Option<&Path>, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(espp_bin());
    cmd.current_dir(cwd)
        .env_remove("ESPP_DB")
        .env_remove("ESPP_CACHE_MB")
        .env_remove("ESPP_ALLOW_FUTURE")
        .env_remove("ESPP_WAIT")
        .env("ESPP_ACTOR", "cli-test")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(db) = db {
        cmd.arg("--db").arg(db);
    }
    cmd.args(args);
    let mut child = cmd.spawn().expect("espp starts");
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        pipe.write_all(bytes).expect("write espp's stdin");
    }
    Run::from(child.wait_with_output().expect("espp runs"))
}

/// The JSON objects of a JSON Lines text.
#[track_caller]
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(bytes)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The chain vector of INTERCHANGE.md (a copy of shared/spec/vectors/chain.jsonl).
pub fn chain_vector() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/chain.jsonl");
    std::fs::read_to_string(p).expect("tests/data/chain.jsonl")
}

/// A small xorshift64* generator: reproducible from its printed seed.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// From `ESPP_TEST_SEED` if set, else from the clock; prints the seed.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("ESPP_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{what}: seed {seed} (rerun with ESPP_TEST_SEED={seed})");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// Opens the ledger's sled database directly (no `espp` may be running), lets `edit` change
/// it, and makes the change durable.
pub fn with_sled(db: &Path, edit: impl FnOnce(&sled::Db)) {
    let sled = while_busy(|| {
        espp_engine::store::sled_config(&db.join("log"))
            .expect("read the ledger's sled conf")
            .flush_every_ms(None)
            .open()
    })
    .expect("open the ledger's sled db");
    edit(&sled);
    sled.flush().expect("flush sled");
    drop(sled);
    wait_until_closed(db);
}

/// Three appends: chunks at seq 1 (1-2), 3 (3-5) and 6 (6-8).
pub fn three_chunk_ledger(dir: &Dir) {
    for (n, date) in [(2, "2026-02-02"), (3, "2026-02-03"), (3, "2026-02-04")] {
        let line = format!(r#"{{"type":"market_price","date":"{date}","closes":["10.00"]}}"#);
        dir.append(vec![line; n].join("\n")).expect_code(0);
    }
    dir.espp(&["verify"]).expect_code(0);
}
