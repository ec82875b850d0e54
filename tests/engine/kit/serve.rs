//! `switchboard serve` as a child process, for the tests that kill and restart the binary.

use std::path::Path;

/// Runs `switchboard serve --config <config>` with none of the environment overrides that would bypass the
/// file (store, master key, admin listen), killed when the handle is dropped. `SWITCHBOARD_TEST_BIN` overrides
/// the binary: with a `CARGO_TARGET_DIR` shared between worktrees, target/debug/switchboard is whichever
/// worktree linked it last, which may not be the code under test.
pub fn spawn_serve(config: &Path) -> tokio::process::Child {
    spawn_serve_with(config, &[])
}

/// [`spawn_serve`] with these environment variables set (tokens, as a deployment injects them).
pub fn spawn_serve_with(config: &Path, env: &[(&str, &str)]) -> tokio::process::Child {
    let bin = std::env::var_os("SWITCHBOARD_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_switchboard").into());
    tokio::process::Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env_remove("SWITCHBOARD_STORE")
        .env_remove("SWITCHBOARD_MASTER_KEY")
        .env_remove("SWITCHBOARD_ADMIN_LISTEN")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "off".into()),
        )
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("switchboard serve starts")
}
