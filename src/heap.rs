//! Giving freed heap memory back to the system.
//!
//! glibc keeps memory freed by one thread in that thread's arena; after a burst (setting up thousands of
//! channels parses thousands of REST answers) the process would hold it for good. The engine trims the heap
//! shortly after start and then once a minute; a trim takes a few milliseconds.

use std::time::Duration;

/// Returns free heap memory to the system (a no-op off glibc).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is already free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims after `first`, then every `every`, for as long as the runtime runs.
pub async fn trim_periodically(first: Duration, every: Duration) {
    tokio::time::sleep(first).await;
    loop {
        trim();
        tokio::time::sleep(every).await;
    }
}
