//! Crash points, for the crash tests: with `FACEGATE_CRASH_AT=N` in the environment, a debug
//! build kills itself with SIGKILL just before its Nth write (a file written, renamed or deleted,
//! a SQLite commit), as `kill -9` would at that moment. A test raises N until the command
//! finishes, so every write of a command is interrupted once. Release builds ignore the variable.

/// Marks a write about to happen; `what` names it in the message printed before the kill.
#[inline]
pub fn point(what: &str) {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::OnceLock;
        static AT: OnceLock<Option<usize>> = OnceLock::new();
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let at = *AT.get_or_init(|| std::env::var("FACEGATE_CRASH_AT").ok().and_then(|v| v.parse().ok()));
        if let Some(at) = at {
            if SEEN.fetch_add(1, Ordering::SeqCst) + 1 == at {
                eprintln!("facegate: crash point {at}: killed before {what}");
                // SAFETY: sends SIGKILL to this process; nothing runs after it.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = what;
}
