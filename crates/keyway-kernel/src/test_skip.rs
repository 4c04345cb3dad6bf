//! Tests that cannot run on this machine (no database URL, no browser, no Python package) say
//! so where a person sees it: past the test harness's output capture, and into the file named
//! by `KEYWAY_SKIP_LOG`, from which `scripts/test` prints a summary at the end of the run.
//! With `KEYWAY_REQUIRE_INTEROP=1` (CI) a skip is a failure instead.

use std::io::Write;

/// Reports that `test` was skipped because of `why`, and `how` to run it; panics when the
/// run requires every test (`KEYWAY_REQUIRE_INTEROP=1`).
pub fn report_skip(test: &str, why: &str, how: &str) {
    if std::env::var("KEYWAY_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{test}: {why}, and KEYWAY_REQUIRE_INTEROP=1 requires it ({how})");
    }
    let line = format!("SKIPPED: {test}: {why} ({how})\n");
    // Straight to the stream, not through eprintln!, which the test harness captures.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(log) = std::env::var_os("KEYWAY_SKIP_LOG") {
        // One short append per line: concurrent tests do not interleave within a line.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}
