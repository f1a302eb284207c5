//! The `facegate` binary: parse, run, turn the outcome into an exit code.
//! 0 success, 1 fatal error, 2 some files could not be indexed (see README).

use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything facegate writes (database, index, evidence) is personal data: owner-only.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = match facegate::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let json = cli.json;
    match facegate::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            facegate::cli::print_error(json, &e);
            ExitCode::FAILURE
        }
    }
}
