//! The honest bound of a timeout, shared by the deadline tests.

use std::time::Duration;

/// The honest upper bound for something that should end at `timeout`.
pub fn bound(timeout: Duration) -> Duration {
    // Half again, plus 300 ms: a loaded 2-core machine delays a wake-up by a few hundred
    // milliseconds (flakehunt saw 1.43 s for 1 s), and a 3x overshoot stays caught.
    timeout + timeout / 2 + Duration::from_millis(300)
}
