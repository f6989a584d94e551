//! [`ProcessSwitch`]: a process-wide on/off setting whose default comes from an environment
//! variable read once, the first time it is asked (the kernels' switches: CPU kernels on or
//! off, AVX-512 allowed or not).

use std::sync::atomic::{AtomicU8, Ordering};

/// Not decided yet: read the environment variable on the first question.
const UNDECIDED: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// A process-wide switch: on unless [`ProcessSwitch::set`]`(false)` was called or its
/// environment variable is `0` (or `false`, `off`, any case) when first asked.
pub struct ProcessSwitch {
    state: AtomicU8,
    variable: &'static str,
}

impl ProcessSwitch {
    /// A switch whose default is read from `variable`.
    pub const fn new(variable: &'static str) -> Self {
        Self {
            state: AtomicU8::new(UNDECIDED),
            variable,
        }
    }

    /// Whether the switch is on.
    pub fn enabled(&self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => {
                let off = std::env::var(self.variable).is_ok_and(|v| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "0" | "false" | "off"
                    )
                });
                self.set(!off);
                !off
            }
        }
    }

    /// Turn the switch on or off for the whole process.
    pub fn set(&self, enabled: bool) {
        self.state
            .store(if enabled { ON } else { OFF }, Ordering::Relaxed);
    }
}
