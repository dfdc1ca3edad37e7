//! Project automation for Orcheo Trace: `cargo xtask <command>`.
//!
//! Standard library only, so that it builds in seconds and never needs the rest of the workspace.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "xtask is a command-line tool that reports to the terminal"
)]

use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

mod layering;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                   fmt, clippy, test (layering, doc links and conformance included), deny,
                       API fuzzing, interop, browser tests, fuzz smoke test
  layering             check the crate dependency rules with `cargo tree` and print each one
  deny                 `cargo deny --offline check` with the offline RustSec database
  conformance DIR      run the conformance test over a fixtures folder
  fuzz-smoke [SECONDS] fuzz decode_normalize briefly (default 60 s)
  fuzz [SECONDS]       fuzz decode_normalize (default 300 s)
  bench [-- ARGS]      run the normalize benchmark (ARGS go to criterion)
  api-fuzz [EXAMPLES]  Schemathesis against a running server's OpenAPI document (default 50)
  otlp-interop         the Python OpenTelemetry SDK exporting to the server (gRPC and HTTP)
  orcheo-interop       Orcheo's own Python tracing (PyPI `orcheo`) exporting to the server
  browser [--release]  type-check the Trace tab and test it in Chromium (--release: timings
                       from a release build, written to target/browser-timings.json)
  durability [--rounds N] [--seconds S] [--debug]
                       kill -9 a release server under OTLP load N times (default 3 rounds of
                       20 s) and check that every acknowledged span is in its store";

/// Where `ci` looks for the fixture corpus when `ORCHEO_FIXTURES_DIR` is not set, relative to the
/// workspace root.
const SHARED_FIXTURES: &str = "../shared/fixtures";
/// The offline `RustSec` database, relative to the workspace root.
const ADVISORY_ARCHIVE: &str = "../shared/rustsec/advisory-db.tar.gz";
/// The folder cargo-deny 0.20 reads for its default database URL, under `$CARGO_HOME/advisory-dbs`.
const ADVISORY_DB_DIR: &str = "advisory-db-3157b0e258782691";
/// The fuzz target and where its seed inputs come from, relative to the workspace root.
const FUZZ_TARGET: &str = "decode_normalize";
const FUZZ_SEEDS: &str = "crates/orcheo-span-tree/tests/data";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn dispatch(args: &[String]) -> Result<(), Failure> {
    let root = workspace_root();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("ci") => no_more_args(rest).and_then(|()| ci(&root)),
        Some("layering") => no_more_args(rest).and_then(|()| layering(&root)),
        Some("deny") => no_more_args(rest).and_then(|()| deny(&root)),
        Some("conformance") => match rest {
            [dir] => conformance(&root, Path::new(dir)),
            _ => Err(Failure::usage("conformance needs exactly one DIR")),
        },
        Some("fuzz-smoke") => fuzz(&root, seconds_arg(rest, 60)?),
        Some("fuzz") => fuzz(&root, seconds_arg(rest, 300)?),
        Some("bench") => bench(&root, rest),
        Some("api-fuzz") => api_fuzz(&root, seconds_arg(rest, 50)?),
        Some("otlp-interop") => no_more_args(rest).and_then(|()| otlp_interop(&root)),
        Some("orcheo-interop") => no_more_args(rest).and_then(|()| orcheo_interop(&root)),
        Some("browser") => match rest {
            [] => browser(&root, false),
            [flag] if flag == "--release" => browser(&root, true),
            _ => Err(Failure::usage("browser takes only --release")),
        },
        Some("durability") => durability(&root, &DurabilityArgs::parse(rest)?),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Failure::usage(&format!("unknown command `{other}`"))),
        None => Err(Failure::usage("no command given")),
    }
}

// ---------------------------------------------------------------------------------------------
// ci

/// Every check CI runs, in order, stopping at the first failure.
fn ci(root: &Path) -> Result<(), Failure> {
    step("fmt");
    run(cargo(root).args(["fmt", "--all", "--", "--check"]))?;

    step("clippy");
    run(cargo(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;

    // The layering rules and the docs' links are tests of xtask's, so this step checks them
    // too; so is the conformance test, over the fixture corpus when one is found.
    step("test");
    let mut test = cargo(root);
    test.args(["test", "--workspace", "--locked"]);
    let fixtures = root.join(SHARED_FIXTURES);
    if env::var_os("ORCHEO_FIXTURES_DIR").is_none() && fixtures.is_dir() {
        test.env("ORCHEO_FIXTURES_DIR", &fixtures);
    }
    run(&mut test)?;

    step("deny");
    deny(root)?;

    step("api-fuzz");
    if command_exists("st") {
        api_fuzz(root, 50)?;
    } else {
        println!("skipped: Schemathesis is not installed (`pip install schemathesis`)");
    }

    step("otlp-interop");
    if command_exists("python3") {
        otlp_interop(root)?;
    } else {
        println!("skipped: python3 is not installed");
    }

    step("orcheo-interop");
    match python_312() {
        Ok(python) => orcheo_interop_with(root, &python)?,
        // CI must run it; a developer's machine without Python 3.12 says why it did not.
        Err(why) if env::var_os("CI").is_some() => return Err(Failure::new(why)),
        Err(why) => println!("skipped: {why}"),
    }

    step("browser");
    if command_exists("node") && Path::new(&chromium()).is_file() {
        browser(root, false)?;
    } else {
        println!(
            "skipped: the browser tests need Node.js and Chromium at {} (`apt-get install chromium`)",
            chromium()
        );
    }

    step("fuzz-smoke");
    if cargo_subcommand_installed(root, "fuzz") {
        fuzz(root, 60)?;
    } else {
        println!("skipped: cargo-fuzz is not installed (`cargo install cargo-fuzz --locked`)");
    }

    println!("\nci: all steps passed");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// layering

/// Checks the crate dependency rules of [`layering::RULES`] and prints each one's result.
fn layering(root: &Path) -> Result<(), Failure> {
    let report = layering::check_workspace(root)?;
    for line in &report.lines {
        println!("{line}");
    }
    if report.passed() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "layering: {} problem(s):\n  {}",
            report.broken.len() + report.stale.len(),
            report.problems()
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// deny

/// `cargo deny --offline check`, with the `RustSec` database unpacked from the shared archive.
fn deny(root: &Path) -> Result<(), Failure> {
    if !cargo_subcommand_installed(root, "deny") {
        return Err(Failure::new(
            "cargo-deny is not installed: run `cargo install cargo-deny --locked`".to_owned(),
        ));
    }
    // cargo-deny reads the metadata of every platform's dependencies; a build downloads only
    // this platform's, so fetch the rest (from the lock file) before going offline.
    run(cargo(root).args(["fetch", "--locked"]))?;
    let archive = root.join(ADVISORY_ARCHIVE);
    if archive.is_file() {
        ensure_advisory_db(&archive)?;
        run(cargo(root).args(["deny", "--offline", "check"]))
    } else {
        println!(
            "note: {} not found, so advisories are SKIPPED; checking bans, licenses and sources",
            archive.display()
        );
        run(cargo(root).args(["deny", "--offline", "check", "bans", "licenses", "sources"]))?;
        println!("deny: passed, but advisories were skipped (no offline database)");
        Ok(())
    }
}

/// Unpacks the archive where cargo-deny looks for its default database and commits it once
/// (cargo-deny reads the date of the HEAD commit). Does nothing if that is already done.
fn ensure_advisory_db(archive: &Path) -> Result<(), Failure> {
    let db = cargo_home()?.join("advisory-dbs").join(ADVISORY_DB_DIR);
    let has_commit = db.join(".git").is_dir()
        && Command::new("git")
            .arg("-C")
            .arg(&db)
            .args(["rev-parse", "--verify", "--quiet", "HEAD"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    if has_commit {
        println!("advisory database: {} (already unpacked)", db.display());
        return Ok(());
    }
    println!("advisory database: unpacking into {}", db.display());
    fs::create_dir_all(&db)
        .map_err(|error| Failure::new(format!("cannot create {}: {error}", db.display())))?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&db))?;
    let git = || {
        let mut command = Command::new("git");
        command.current_dir(&db).args([
            "-c",
            "user.name=ci",
            "-c",
            "user.email=ci@localhost",
            "-c",
            "commit.gpgsign=false",
        ]);
        command
    };
    run(git().args(["init", "--quiet"]))?;
    run(git().args(["add", "--all"]))?;
    run(git().args([
        "commit",
        "--quiet",
        "--no-verify",
        "--message",
        "RustSec advisory-db, offline copy",
    ]))
}

fn cargo_home() -> Result<PathBuf, Failure> {
    if let Some(home) = env::var_os("CARGO_HOME").filter(|home| !home.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".cargo"))
        .ok_or_else(|| Failure::new("neither CARGO_HOME nor HOME is set".to_owned()))
}

// ---------------------------------------------------------------------------------------------
// conformance, fuzz, bench

/// The span-tree conformance test over every file of a fixtures folder.
fn conformance(root: &Path, dir: &Path) -> Result<(), Failure> {
    let dir = dir
        .canonicalize()
        .map_err(|error| Failure::new(format!("fixtures folder {}: {error}", dir.display())))?;
    if !dir.is_dir() {
        return Err(Failure::new(format!("{} is not a folder", dir.display())));
    }
    run(cargo(root).env("ORCHEO_FIXTURES_DIR", &dir).args([
        "test",
        "-p",
        "orcheo-span-tree",
        "--test",
        "conformance",
        "--locked",
    ]))
}

/// Fuzzes `decode_normalize` for `seconds`, seeded with the span-tree test data.
fn fuzz(root: &Path, seconds: u64) -> Result<(), Failure> {
    if !cargo_subcommand_installed(root, "fuzz") {
        return Err(Failure::new(
            "cargo-fuzz is not installed: run `cargo install cargo-fuzz --locked`".to_owned(),
        ));
    }
    seed_corpus(root)?;
    run(cargo(root)
        // Only a stable toolchain is installed; this lets cargo-fuzz pass its -Z flags.
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", FUZZ_TARGET, "--"])
        .arg(format!("-max_total_time={seconds}")))
}

/// Copies every file under the span-tree test data into the fuzz corpus, flattening
/// `a/b.json` to `a__b.json` so that files with the same name in different folders both survive.
fn seed_corpus(root: &Path) -> Result<(), Failure> {
    let corpus = root.join("fuzz/corpus").join(FUZZ_TARGET);
    fs::create_dir_all(&corpus)
        .map_err(|error| Failure::new(format!("cannot create {}: {error}", corpus.display())))?;
    let seeds = root.join(FUZZ_SEEDS);
    if !seeds.is_dir() {
        println!("note: {} does not exist; no seed inputs", seeds.display());
        return Ok(());
    }
    let mut files = Vec::new();
    collect_files(&seeds, &mut files)
        .map_err(|error| Failure::new(format!("cannot read {}: {error}", seeds.display())))?;
    for file in &files {
        let relative = file.strip_prefix(&seeds).unwrap_or(file);
        let name: Vec<_> = relative.iter().map(OsStr::to_string_lossy).collect();
        let target = corpus.join(name.join("__"));
        fs::copy(file, &target).map_err(|error| {
            Failure::new(format!(
                "cannot copy {} to {}: {error}",
                file.display(),
                target.display()
            ))
        })?;
    }
    println!(
        "seeded {} with {} file(s) from {}",
        corpus.display(),
        files.len(),
        seeds.display()
    );
    Ok(())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else if path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// The `normalize` criterion benchmark; extra arguments go to criterion.
fn bench(root: &Path, args: &[String]) -> Result<(), Failure> {
    let extra = match args {
        [] => &[][..],
        [separator, extra @ ..] if separator == "--" => extra,
        _ => return Err(Failure::usage("bench takes its arguments after `--`")),
    };
    let mut command = cargo(root);
    command.args(["bench", "-p", "orcheo-span-tree", "--bench", "normalize"]);
    if !extra.is_empty() {
        command.arg("--").args(extra);
    }
    run(&mut command)
}

// ---------------------------------------------------------------------------------------------
// api-fuzz

/// Starts the server (embedded defaults, a fresh SQLite file, one seeded execution), runs
/// Schemathesis with every check against its OpenAPI document, and stops it.
fn api_fuzz(root: &Path, examples: u64) -> Result<(), Failure> {
    build_server(root, false)?;
    let mut scratch = Scratch::new("api-fuzz")?;
    let target = target_dir(root).join("debug");
    run(Command::new(target.join("examples/seed_trace")).args([
        scratch.database_url().as_str(),
        "exec_fuzz",
        "25",
    ]))?;
    let address = format!("127.0.0.1:{}", free_port()?);
    // No receivers: their default ports may be taken, and the API is what is fuzzed.
    scratch.serve(
        root,
        &[
            "--http-addr",
            &address,
            "--otlp-grpc-addr",
            "off",
            "--otlp-http-addr",
            "off",
        ],
    )?;
    wait_for_port(&address)?;
    let schema = format!("http://{address}/api/openapi.json");
    run(Command::new("st").args([
        "run",
        &schema,
        "--checks",
        "all",
        "--max-examples",
        &examples.to_string(),
        "--seed",
        "1",
        "--no-color",
    ]))
}

// ---------------------------------------------------------------------------------------------
// browser

/// The Chromium the browser tests drive: `CHROMIUM`, or Debian's.
fn chromium() -> String {
    env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Type-checks the Trace tab's modules and runs the browser tests (`browser-tests/`) against
/// servers started by the tests themselves; they save the user guide's screenshots.
fn browser(root: &Path, release: bool) -> Result<(), Failure> {
    let tests = root.join("browser-tests");
    if !tests.join("node_modules").is_dir() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&tests))?;
    }
    run(Command::new(tests.join("node_modules/.bin/tsc"))
        .args(["-p", "crates/orcheo-trace-viewer/ui/tsconfig.json"])
        .current_dir(root))?;
    build_server(root, release)?;
    let profile = if release { "release" } else { "debug" };
    let mut command = Command::new("node");
    command
        .args([
            "--test",
            "--test-concurrency=1",
            "tests/viewer.test.mjs",
            "tests/compare.test.mjs",
            "tests/cors.test.mjs",
        ])
        .current_dir(&tests)
        .env(
            "ORCHEO_SERVER_BIN",
            target_dir(root).join(profile).join("orcheo-trace-server"),
        )
        .env(
            "ORCHEO_SEED_BIN",
            target_dir(root).join(profile).join("examples/seed_trace"),
        )
        .env("ORCHEO_SCREENSHOT_DIR", root.join("docs/images"))
        .env("CHROMIUM", chromium());
    if release {
        command.env(
            "ORCHEO_BENCH_OUT",
            target_dir(root).join("browser-timings.json"),
        );
    }
    run(&mut command)
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` (relative to the workspace) or `target`.
fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

// ---------------------------------------------------------------------------------------------
// otlp-interop

/// The Python SDK's packages, pinned to what was tried together.
const PYTHON_OTEL: &[&str] = &[
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-exporter-otlp-proto-grpc==1.45.2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
];

/// Starts the server on fresh ports and a fresh database, has the Python OpenTelemetry SDK
/// export four runs to it (gRPC and HTTP, plain and gzip-compressed), and lets the script check
/// them through the API.
fn otlp_interop(root: &Path) -> Result<(), Failure> {
    python_interop(
        root,
        Path::new("python3"),
        &Interop {
            name: "otlp-interop",
            packages: PYTHON_OTEL,
            script: "xtask/interop/python_sdk.py",
        },
    )
}

/// A Python script checking the server from outside, with the packages it needs.
struct Interop {
    /// The step's name: its virtualenv under the target folder and its scratch folder.
    name: &'static str,
    packages: &'static [&'static str],
    /// Relative to the repository.
    script: &'static str,
}

/// Makes (or reuses) the step's virtualenv with `python`, installs its packages, starts the
/// server on fresh ports and a fresh database, and runs the script with the server's addresses
/// in `ORCHEO_API`, `OTLP_GRPC` and `OTLP_HTTP`.
fn python_interop(root: &Path, python: &Path, interop: &Interop) -> Result<(), Failure> {
    let venv = target_dir(root).join(format!("{}-venv", interop.name));
    let venv_python = venv.join("bin/python");
    if !venv_python.is_file() {
        run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&venv_python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(interop.packages))?;
    build_server(root, false)?;
    let mut scratch = Scratch::new(interop.name)?;
    let (api, grpc, http) = (free_port()?, free_port()?, free_port()?);
    let address = |port: u16| format!("127.0.0.1:{port}");
    scratch.serve(
        root,
        &[
            "--http-addr",
            &address(api),
            "--otlp-grpc-addr",
            &address(grpc),
            "--otlp-http-addr",
            &address(http),
        ],
    )?;
    wait_for_port(&address(api))?;
    wait_for_port(&address(grpc))?;
    run(Command::new(&venv_python)
        .arg(root.join(interop.script))
        .env("ORCHEO_API", format!("http://{}", address(api)))
        .env("OTLP_GRPC", format!("http://{}", address(grpc)))
        .env("OTLP_HTTP", format!("http://{}", address(http))))
}

// ---------------------------------------------------------------------------------------------
// orcheo-interop

/// The `orcheo` release whose tracing is called, with the exporters and the WebSocket client
/// the script uses, pinned to what was tried together.
const ORCHEO_PACKAGES: &[&str] = &[
    "orcheo==0.46.1",
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-exporter-otlp-proto-grpc==1.45.2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
    WEBSOCKETS,
];
const WEBSOCKETS: &str = "websockets==16.1.1";

/// Whether `python` is a Python 3.12 or later (what `orcheo` requires).
fn is_python_312(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python 3.12 or later: `python3.12` (or a later one) on the `PATH`, else the newest such
/// version pyenv has installed; otherwise why none was found.
fn python_312() -> Result<PathBuf, String> {
    for name in ["python3.12", "python3.13", "python3.14"] {
        if is_python_312(Path::new(name)) {
            return Ok(PathBuf::from(name));
        }
    }
    let versions = Command::new("pyenv")
        .args(["versions", "--bare"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    let Some(versions) = versions else {
        return Err("orcheo needs Python 3.12 or later: none on the PATH and no pyenv".to_owned());
    };
    for version in pythons_312(&versions) {
        let prefix = Command::new("pyenv")
            .args(["prefix", version])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
        if let Some(prefix) = prefix {
            let python = Path::new(&prefix).join("bin/python3");
            if is_python_312(&python) {
                return Ok(python);
            }
        }
    }
    Err(
        "orcheo needs Python 3.12 or later: none on the PATH and none installed with pyenv"
            .to_owned(),
    )
}

/// The versions `pyenv versions --bare` lists that are `CPython` 3.12 or later, newest first
/// (`3.12.1`, `3.13.0`; not `pypy3.10`, `3.11.7` or a virtualenv's `3.12.1/envs/x`).
fn pythons_312(versions: &str) -> Vec<&str> {
    let mut found: Vec<((u32, u32, u32), &str)> = versions
        .lines()
        .map(str::trim)
        .filter_map(|v| {
            let mut parts = v.split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            let patch: u32 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
            (major == 3 && minor >= 12 && parts.next().is_none())
                .then_some(((major, minor, patch), v))
        })
        .collect();
    found.sort_unstable();
    found.into_iter().rev().map(|(_, v)| v).collect()
}

/// `orcheo-interop`: with a Python 3.12, or a failure saying why there is none.
fn orcheo_interop(root: &Path) -> Result<(), Failure> {
    let python = python_312().map_err(Failure::new)?;
    orcheo_interop_with(root, &python)
}

/// Starts the server on fresh ports and a fresh database, has Orcheo's own Python tracing
/// (`orcheo.tracing.workflow`, called as Orcheo's backend calls it) export runs to it over gRPC
/// and HTTP, and lets the script check them through the API and the live feed.
fn orcheo_interop_with(root: &Path, python: &Path) -> Result<(), Failure> {
    python_interop(
        root,
        python,
        &Interop {
            name: "orcheo-interop",
            packages: ORCHEO_PACKAGES,
            script: "xtask/interop/orcheo_tracing.py",
        },
    )
}

// ---------------------------------------------------------------------------------------------
// durability

/// `durability [--rounds N] [--seconds S] [--debug]`.
#[derive(Debug, PartialEq, Eq)]
struct DurabilityArgs {
    rounds: u32,
    seconds: u64,
    release: bool,
}

impl DurabilityArgs {
    fn parse(args: &[String]) -> Result<Self, Failure> {
        let mut parsed = Self {
            rounds: 3,
            seconds: 20,
            release: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| {
                args.next()
                    .and_then(|value| value.parse::<u32>().ok())
                    .filter(|&value| value > 0)
                    .ok_or_else(|| Failure::usage(&format!("{name} needs a whole number above 0")))
            };
            match arg.as_str() {
                "--rounds" => parsed.rounds = number("--rounds")?,
                "--seconds" => parsed.seconds = u64::from(number("--seconds")?),
                "--debug" => parsed.release = false,
                other => {
                    return Err(Failure::usage(&format!(
                        "durability: unexpected argument `{other}`"
                    )));
                }
            }
        }
        Ok(parsed)
    }
}

/// Exporters the load generator runs at once.
const DURABILITY_EXPORTERS: &str = "8";

/// Runs the server on a fresh SQLite file with the load generator exporting to it (gRPC and HTTP
/// in turn) and kills the server with SIGKILL at a random moment of each round, then restarts it
/// once more and has the load generator look every acknowledged span up in the store.
fn durability(root: &Path, args: &DurabilityArgs) -> Result<(), Failure> {
    use std::hash::BuildHasher as _;
    let profile = if args.release { "release" } else { "debug" };
    let mut build = cargo(root);
    build.args([
        "build",
        "--locked",
        "-p",
        "orcheo-trace-server",
        "--bin",
        "orcheo-trace-server",
        "--example",
        "ingest_load",
    ]);
    if args.release {
        build.arg("--release");
    }
    run(&mut build)?;
    let binaries = target_dir(root).join(profile);
    let server = binaries.join("orcheo-trace-server");
    let load = binaries.join("examples/ingest_load");
    let mut scratch = Scratch::new("durability")?;
    let acknowledged = scratch.dir.join("acknowledged.txt");
    let (api, grpc, http) = (free_port()?, free_port()?, free_port()?);
    let address = |port: u16| format!("127.0.0.1:{port}");
    let serve_args = [
        "--http-addr",
        &address(api),
        "--otlp-grpc-addr",
        &address(grpc),
        "--otlp-http-addr",
        &address(http),
    ];
    // Per process, `RandomState` is seeded at random: a kill moment no one chose.
    let random = std::collections::hash_map::RandomState::new();
    let round_time = std::time::Duration::from_secs(args.seconds);
    let started = std::time::Instant::now();
    for round in 1..=args.rounds {
        let transport = if round % 2 == 1 { "grpc" } else { "http" };
        step(&format!("round {round} of {}: {transport}", args.rounds));
        scratch.serve_binary(&server, &serve_args)?;
        wait_for_port(&address(grpc))?;
        wait_for_port(&address(http))?;
        let mut generator = Command::new(&load);
        generator
            .args(["record", transport])
            .arg(args.seconds.to_string())
            .arg(DURABILITY_EXPORTERS)
            .arg(&acknowledged)
            .env("OTLP_GRPC", format!("http://{}", address(grpc)))
            .env("OTLP_HTTP", format!("http://{}", address(http)));
        print_command(&generator);
        let mut generator = generator
            .spawn()
            .map_err(|e| Failure::spawn(&generator, &e))?;
        // Between a quarter and three quarters of the round: under load, with load after it.
        let kill_at = round_time / 4
            + round_time / 2 * u32::try_from(random.hash_one(round) % 1000).unwrap_or(0) / 1000;
        std::thread::sleep(kill_at);
        scratch.kill_server();
        println!(
            "killed the server with SIGKILL {:.2} s into the round",
            kill_at.as_secs_f64()
        );
        let status = generator
            .wait()
            .map_err(|e| Failure::io("the load generator", &e))?;
        if !status.success() {
            return Err(Failure::new(format!(
                "the load generator failed with {status}"
            )));
        }
    }
    step("check");
    // Once more, so that the database is opened by the server after the last kill.
    scratch.serve_binary(&server, &serve_args)?;
    wait_for_port(&address(api))?;
    let database = scratch.database_url();
    let output = capture(
        Command::new(&load)
            .arg("check")
            .arg(&acknowledged)
            .arg(&database),
    );
    scratch.kill_server();
    let output = output?;
    print!("{output}");
    println!(
        "durability: {} rounds of {} s ({profile} build, SIGKILL once a round), {:.0} s in all",
        args.rounds,
        args.seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The server and the seeding example, built the same way by every step that needs them. The
/// whole workspace's binaries and examples are built, so that features are unified as for
/// `cargo test --workspace`: after the test step this reuses its build instead of compiling some
/// sixty crates again with another feature set.
fn build_server(root: &Path, release: bool) -> Result<(), Failure> {
    let mut build = cargo(root);
    build.args(["build", "--locked", "--workspace", "--bins", "--examples"]);
    if release {
        build.arg("--release");
    }
    run(&mut build)
}

/// A temporary folder with a database, and the server run on it; both go when it is dropped.
struct Scratch {
    dir: PathBuf,
    server: Option<std::process::Child>,
}

impl Scratch {
    fn new(name: &str) -> Result<Self, Failure> {
        let dir = env::temp_dir().join(format!("orcheo-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir)
            .map_err(|e| Failure::io("cannot create a temporary folder", &e))?;
        Ok(Self { dir, server: None })
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.join("trace.db").display())
    }

    /// Starts `orcheo-trace-server serve` on the folder's database with `args`.
    fn serve(&mut self, root: &Path, args: &[&str]) -> Result<(), Failure> {
        self.serve_binary(&target_dir(root).join("debug/orcheo-trace-server"), args)
    }

    /// As [`Scratch::serve`], with the server binary at `server`.
    fn serve_binary(&mut self, server: &Path, args: &[&str]) -> Result<(), Failure> {
        let mut command = Command::new(server);
        command
            .args(["serve", "--database-url", &self.database_url()])
            .arg("--artifact-dir")
            .arg(self.dir.join("artifacts"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        print_command(&command);
        self.server = Some(
            command
                .spawn()
                .map_err(|e| Failure::io("cannot start the server", &e))?,
        );
        Ok(())
    }
}

impl Scratch {
    /// Stops the server with SIGKILL: nothing of it runs after this returns.
    fn kill_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.kill_server();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, Failure> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::io("cannot find a free port", &e))
}

/// Waits up to 30 s for something to listen on `address`.
fn wait_for_port(address: &str) -> Result<(), Failure> {
    for _ in 0..300 {
        if std::net::TcpStream::connect(address).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(Failure::new(format!(
        "the server did not listen on {address} within 30 s"
    )))
}

fn command_exists(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// helpers

/// The workspace root: the parent of this package's folder.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// A `cargo` command run from the workspace root, using the same cargo that runs xtask.
fn cargo(root: &Path) -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root);
    command
}

fn cargo_subcommand_installed(root: &Path, subcommand: &str) -> bool {
    cargo(root)
        .args([subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn step(name: &str) {
    println!("\n==> {name}");
}

/// Prints the command line, runs it with inherited output, and fails with its exit code.
fn run(command: &mut Command) -> Result<(), Failure> {
    print_command(command);
    let status = command
        .status()
        .map_err(|error| Failure::spawn(command, &error))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::exited(command, status.code()))
    }
}

/// Like [`run`], but returns the command's standard output.
fn capture(command: &mut Command) -> Result<String, Failure> {
    print_command(command);
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| Failure::spawn(command, &error))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Failure::exited(command, output.status.code()))
    }
}

fn print_command(command: &Command) {
    println!("$ {}", CommandLine(command));
}

/// Displays a command as a shell-like line: `ENV=value program args…`.
struct CommandLine<'a>(&'a Command);

impl fmt::Display for CommandLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in self.0.get_envs() {
            if let Some(value) = value {
                write!(f, "{}={} ", key.to_string_lossy(), quoted(value))?;
            }
        }
        let program = Path::new(self.0.get_program());
        // Show `cargo`, not the full path of the toolchain's cargo binary.
        let program = program.file_name().unwrap_or(program.as_os_str());
        write!(f, "{}", quoted(program))?;
        for arg in self.0.get_args() {
            write!(f, " {}", quoted(arg))?;
        }
        Ok(())
    }
}

fn quoted(text: &OsStr) -> String {
    let text = text.to_string_lossy();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn no_more_args(rest: &[String]) -> Result<(), Failure> {
    match rest.first() {
        None => Ok(()),
        Some(arg) => Err(Failure::usage(&format!("unexpected argument `{arg}`"))),
    }
}

fn seconds_arg(rest: &[String], default: u64) -> Result<u64, Failure> {
    match rest {
        [] => Ok(default),
        [seconds] => seconds.parse().map_err(|_| {
            Failure::usage(&format!("SECONDS must be a whole number, not `{seconds}`"))
        }),
        _ => Err(Failure::usage("expected at most one argument, SECONDS")),
    }
}

/// Why xtask stops, and the exit code it stops with.
#[derive(Debug)]
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn new(message: String) -> Self {
        Self { message, code: 1 }
    }

    fn usage(message: &str) -> Self {
        Self {
            message: format!("{message}\n\n{USAGE}"),
            code: 2,
        }
    }

    fn io(what: &str, error: &io::Error) -> Self {
        Self::new(format!("{what}: {error}"))
    }

    fn spawn(command: &Command, error: &io::Error) -> Self {
        Self::new(format!("cannot run `{}`: {error}", CommandLine(command)))
    }

    /// The command's own exit code, or 1 if it was killed by a signal or its code does not fit.
    fn exited(command: &Command, code: Option<i32>) -> Self {
        let shown = code.map_or_else(|| "a signal".to_owned(), |code| format!("exit code {code}"));
        Self {
            message: format!("`{}` failed with {shown}", CommandLine(command)),
            code: code
                .and_then(|code| u8::try_from(code).ok())
                .filter(|&code| code != 0)
                .unwrap_or(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_cpython_312_or_later_from_pyenv_newest_first() {
        let listed =
            "2.7.18\n3.11.7\n3.12.1\n3.12.10\n3.13.0\npypy3.10-7.3\n3.12.1/envs/tool\n3.14-dev\n";
        assert_eq!(pythons_312(listed), ["3.13.0", "3.12.10", "3.12.1"]);
        assert!(pythons_312("3.11.7\nsystem\n").is_empty());
    }

    #[test]
    fn reads_durability_arguments() {
        let args = |list: &[&str]| {
            DurabilityArgs::parse(&list.iter().map(|&a| a.to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(
            args(&[]).unwrap(),
            DurabilityArgs {
                rounds: 3,
                seconds: 20,
                release: true
            }
        );
        assert_eq!(
            args(&["--seconds", "10", "--rounds", "2", "--debug"]).unwrap(),
            DurabilityArgs {
                rounds: 2,
                seconds: 10,
                release: false
            }
        );
        for bad in [
            &["--rounds"][..],
            &["--rounds", "0"],
            &["--seconds", "x"],
            &["-n"],
        ] {
            assert_eq!(args(bad).unwrap_err().code, 2, "{bad:?}");
        }
    }

    #[test]
    fn quotes_only_what_the_shell_would_split() {
        assert_eq!(
            quoted(OsStr::new("-max_total_time=60")),
            "-max_total_time=60"
        );
        assert_eq!(quoted(OsStr::new("a b")), "'a b'");
        assert_eq!(quoted(OsStr::new("it's")), r"'it'\''s'");
    }
}
