//! Starting and stopping the simulator: the HTTP server, optional TLS, and the thread that drives the
//! workload and the clock.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;

use super::config::SimConfig;
use super::http;
use super::state::Sim;

/// A running simulator.
pub struct SimHandle {
    /// The bound address (the real port when `listen` asked for port 0).
    pub addr: SocketAddr,
    /// `http://HOST:PORT` or `https://HOST:PORT`: the API, login and streaming origin.
    pub base_url: String,
    /// The PEM certificate a client must trust, when TLS is on.
    pub cert_path: Option<PathBuf>,
    pub sim: Arc<Sim>,
    server: actix_web::dev::ServerHandle,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// Stops the server (open sockets are closed) and the workload.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let server = self.server.clone();
        // `stop` must be awaited on some runtime; the server's own threads run it.
        let _ =
            std::thread::spawn(move || actix_rt::System::new().block_on(server.stop(false))).join();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
        }
    }
}

/// Starts a simulator on background threads and returns once it is listening.
pub fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid simulator configuration: {e}"))?;
    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("while binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let tls = if config.tls {
        Some(super::tls::self_signed(&config, addr)?)
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{addr}");
    let cert_path = tls.as_ref().map(|t| t.cert_path.clone());
    let sim = Sim::new(config.clone());
    let stop = Arc::new(AtomicBool::new(false));

    let (tx, rx) = std::sync::mpsc::channel();
    let server_sim = sim.clone();
    let workers = config.workers;
    let server_thread = std::thread::Builder::new()
        .name("sim-http".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let data = web::Data::new(server_sim);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .wrap(middleware::from_fn(http::count_rest_calls))
                        .configure(http::configure)
                        .default_service(web::to(http::not_found))
                })
                // Frames leave as they are written, as from a real streaming server: with Nagle's algorithm on, a
                // frame written while the previous one is unacknowledged waits for the client's delayed ACK
                // (up to 40 ms on Linux), which would show as latency that is the simulator's, not the client's.
                .on_connect(|conn, _| {
                    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                        let _ = tcp.set_nodelay(true);
                    }
                })
                .workers(workers)
                .max_connection_rate(4096)
                .backlog(16_384)
                .disable_signals()
                .shutdown_timeout(1);
                let server = match tls {
                    Some(t) => server.listen_rustls_0_23(listener, t.server_config),
                    None => server.listen(listener),
                };
                let server = match server {
                    Ok(s) => s.run(),
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::Error::from(e)));
                        return;
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                let _ = server.await;
            });
        })?;
    let server = rx
        .recv()
        .context("the simulator's server thread ended before listening")??;

    let driver_sim = sim.clone();
    let driver_stop = stop.clone();
    let driver = std::thread::Builder::new()
        .name("sim-driver".into())
        .spawn(move || drive(driver_sim, driver_stop))?;
    Ok(SimHandle {
        addr,
        base_url,
        cert_path,
        sim,
        server,
        stop,
        threads: vec![server_thread, driver],
    })
}

/// Makes the org's events happen at the configured rate and applies expiries, until `stop`.
fn drive(sim: Arc<Sim>, stop: Arc<AtomicBool>) {
    let tick = sim.config.clock_tick;
    let mut last_tick = Instant::now();
    let mut rate_since = Instant::now();
    let mut rate = 0.0f64;
    let mut emitted: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let spec_rate = sim.workload().rate_per_second;
        if spec_rate != rate {
            rate = spec_rate;
            rate_since = Instant::now();
            emitted = 0;
        }
        if rate > 0.0 {
            let due = (rate_since.elapsed().as_secs_f64() * rate) as u64;
            // Never more than 100 ms worth at once, so a stalled thread does not burst.
            let backlog = due.saturating_sub(emitted);
            let cap = ((rate * 0.1) as u64).max(1);
            if backlog > cap {
                emitted = due - cap;
            }
            let n = due.saturating_sub(emitted);
            if n > 0 {
                sim.publish_generated(n as usize);
                emitted += n;
            }
        }
        if last_tick.elapsed() >= tick {
            sim.tick();
            last_tick = Instant::now();
        }
        let sleep = if rate > 0.0 {
            Duration::from_secs_f64((1.0 / rate).clamp(0.001, 0.01))
        } else {
            tick
        };
        std::thread::sleep(sleep.min(tick));
    }
}
