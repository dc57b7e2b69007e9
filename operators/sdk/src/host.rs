//! What the host offers every operator: logging, parameters, counters and the clock.
//!
//! These wrap the WIT `host` import. Each call crosses the component boundary (about a
//! microsecond), so call them per batch, not per row: count in a local variable and add it once.
//!
//! Built for anything but wasm32 (unit tests), the same functions talk to an in-process stand-in
//! instead: logs and counters are recorded per thread and read back through [`native`], so an
//! operator's tests can assert on what it reported.

/// Severity of a log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong but processing goes on.
    Warn,
    /// Something failed.
    Error,
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::rig::operator::host as wit;

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::log(level, message);
    }

    pub fn param(key: &str) -> Option<String> {
        wit::param(key)
    }

    pub fn counter_add(name: &str, delta: u64) {
        wit::counter_add(name, delta);
    }

    pub fn now_ns() -> u64 {
        wit::now_ns()
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use super::native::STATE;

    pub fn log(level: Level, message: &str) {
        STATE.with_borrow_mut(|s| s.logs.push((level, message.to_owned())));
    }

    pub fn param(key: &str) -> Option<String> {
        STATE.with_borrow(|s| s.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    pub fn counter_add(name: &str, delta: u64) {
        STATE.with_borrow_mut(|s| match s.counters.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v += delta,
            None => s.counters.push((name.to_owned(), delta)),
        });
    }

    pub fn now_ns() -> u64 {
        STATE.with_borrow(|s| s.now_ns)
    }
}

/// Writes to rig's log, tagged with the operator's name.
pub fn log(level: Level, message: &str) {
    imp::log(level, message);
}

/// A configuration value by key, as the host sees it (`--operator-param NAME.KEY=VALUE`).
pub fn param(key: &str) -> Option<String> {
    imp::param(key)
}

/// Adds `delta` to the counter `name`, reported with `--stats`.
pub fn counter_add(name: &str, delta: u64) {
    imp::counter_add(name, delta);
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    imp::now_ns()
}

/// Logs at [`Level::Trace`].
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// The stand-in host used when the SDK is built natively (unit tests). Per thread, so parallel
/// tests do not see each other's counters.
#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    use std::cell::RefCell;

    use super::Level;

    #[derive(Debug, Default)]
    pub(super) struct State {
        pub(super) logs: Vec<(Level, String)>,
        pub(super) params: Vec<(String, String)>,
        pub(super) counters: Vec<(String, u64)>,
        pub(super) now_ns: u64,
    }

    thread_local! {
        pub(super) static STATE: RefCell<State> = RefCell::new(State::default());
    }

    /// Forgets every log, parameter and counter of this thread and sets the clock to 0.
    pub fn reset() {
        STATE.with_borrow_mut(|s| *s = State::default());
    }

    /// The value of a counter (0 when never added to).
    pub fn counter(name: &str) -> u64 {
        STATE.with_borrow(|s| s.counters.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| *v))
    }

    /// Takes the messages logged so far.
    pub fn take_logs() -> Vec<(Level, String)> {
        STATE.with_borrow_mut(|s| std::mem::take(&mut s.logs))
    }

    /// Sets what [`super::param`] answers for `key`.
    pub fn set_param(key: &str, value: &str) {
        STATE.with_borrow_mut(|s| s.params.push((key.to_owned(), value.to_owned())));
    }

    /// Sets what [`super::now_ns`] answers.
    pub fn set_now_ns(ns: u64) {
        STATE.with_borrow_mut(|s| s.now_ns = ns);
    }
}

/// Logs a formatted message at info level: `rig_operator_sdk::info!("kept {n} rows")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::host::log($crate::host::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs a formatted message at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::host::log($crate::host::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs a formatted message at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::host::log($crate::host::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs a formatted message at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::host::log($crate::host::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs a formatted message at trace level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::host::log($crate::host::Level::Trace, &::std::format!($($arg)*)) };
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn native_stand_in_records_calls() {
        native::reset();
        counter_add("dropped", 2);
        counter_add("dropped", 3);
        crate::warn!("x={}", 1);
        native::set_param("k", "v");
        native::set_now_ns(42);
        assert_eq!(native::counter("dropped"), 5);
        assert_eq!(native::counter("other"), 0);
        assert_eq!(native::take_logs(), vec![(Level::Warn, "x=1".to_owned())]);
        assert_eq!(param("k").as_deref(), Some("v"));
        assert_eq!(now_ns(), 42);
    }
}
