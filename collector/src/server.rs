//! The accept loop: one hyper HTTP/1 connection task per client, so that a
//! connection can be closed without an answer (the drop fault), CORS applied to
//! every answer, and a clean shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::ORIGIN;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt as _;

use crate::app::{self, AppState, ConnInfo};
use crate::config::{Config, ConfigError};
use crate::faults::Faults;
use crate::store::Store;

/// How long [`Server::stop`] lets open connections finish before closing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running collector. Dropping it also stops it (without waiting).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    forward_task: Option<JoinHandle<()>>,
}

/// Why a server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The database could not be opened or prepared.
    Database(String),
    /// The listening socket could not be bound.
    Bind(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "invalid configuration: {e}"),
            StartError::Database(e) => write!(f, "cannot open the database: {e}"),
            StartError::Bind(e) => write!(f, "cannot listen: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Config(e) => Some(e),
            StartError::Database(_) => None,
            StartError::Bind(e) => Some(e),
        }
    }
}

impl Server {
    /// Opens the database, binds the socket and starts serving in the background
    /// on the current tokio runtime. Returns once the socket is listening, so
    /// [`Server::addr`] can be used at once.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        config.validate().map_err(StartError::Config)?;
        let db_path = config.db_path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
            .await
            .map_err(|e| StartError::Database(e.to_string()))?
            .map_err(|e| StartError::Database(format!("{}: {e}", config.db_path.display())))?;
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;

        let keys = (!config.write_keys.is_empty()).then(|| {
            config
                .write_keys
                .iter()
                .map(|k| (k.key.clone(), k.environment.clone()))
                .collect::<HashMap<_, _>>()
        });
        let forwarder = match config.forward.clone() {
            Some(forward) => {
                let db_path = config.db_path.clone();
                let opened =
                    tokio::task::spawn_blocking(move || crate::forward::open(forward, &db_path))
                        .await
                        .map_err(|e| StartError::Database(e.to_string()))?
                        .map_err(StartError::Database)?;
                Some(opened)
            }
            None => None,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut app_state = AppState::new(
            store,
            keys,
            Faults::new(config.faults.clone()),
            shutdown_rx.clone(),
        );
        app_state.forward = forwarder.clone();
        app_state.trust_proxy = config.trust_proxy;
        let state = Arc::new(app_state);
        let forward_task =
            forwarder.map(|forwarder| tokio::spawn(forwarder.run(shutdown_rx.clone())));
        let router = app::router(state.clone(), &config.static_mounts);
        let task = tokio::spawn(accept_loop(listener, router, state, shutdown_rx));
        Ok(Server {
            addr,
            shutdown,
            task: Some(task),
            forward_task,
        })
    }

    /// The address the server listens on (with the real port when started on 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the base URL of the server.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish (up to 2 s; event streams end at
    /// once), closes every connection and waits until all is done. Everything
    /// acknowledged before is already committed to the database. With forwarding,
    /// also waits for the forwarded batch in flight (up to 5 s more).
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // The forwarder finishes the batch in flight (for at most a few seconds)
        // and records its outcome before the database is let go.
        if let Some(task) = self.forward_task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let conn_shutdown = shutdown.clone();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve_connection(
                        stream,
                        peer,
                        router.clone(),
                        state.clone(),
                        conn_shutdown.clone(),
                    ));
                }
                // Out of file descriptors and the like: back off a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let finish = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finish).await.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let info = ConnInfo {
        peer,
        kill: kill.clone(),
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        let state = state.clone();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(info.clone());
        async move { Ok::<_, Infallible>(handle(router, &state, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        // Dropping the connection future closes the socket with nothing written.
        _ = kill.notified() => return,
        _ = stopped(&mut shutdown) => {}
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = kill.notified() => {}
    }
}

/// Answers (and counts) CORS preflights, routes everything else and adds the CORS
/// headers to every answer (errors included).
async fn handle(router: Router, state: &AppState, req: Request<Body>) -> Response {
    if req.method() == Method::OPTIONS {
        state.stats.preflight();
        return app::preflight_response(req.headers());
    }
    let origin = req.headers().get(ORIGIN).cloned();
    let mut response = match router.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    app::add_cors_headers(response.headers_mut(), origin.as_ref());
    response
}

/// Resolves once a stop is requested (or the server handle is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
