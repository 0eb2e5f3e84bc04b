use super::*;
use crate::limits::Limits;
use crate::shutdown::{DrainOutcome, ShutdownController};
use std::net::IpAddr;
use tokio::net::TcpSocket;
use tokio::sync::mpsc;

#[test]
fn backoff_doubles_up_to_about_a_second_and_resets() {
    let mut backoff = AcceptBackoff::default();
    let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
    assert_eq!(delays[0], AcceptBackoff::FIRST);
    assert_eq!(delays[1], AcceptBackoff::FIRST * 2);
    assert!(delays.windows(2).all(|w| w[1] >= w[0]));
    assert_eq!(*delays.last().expect("delays"), AcceptBackoff::MAX);
    backoff.reset();
    assert_eq!(backoff.next_delay(), AcceptBackoff::FIRST);
}

#[test]
fn only_per_connection_errors_skip_the_pause() {
    assert!(one_connection_failed(&io::Error::from(
        io::ErrorKind::ConnectionAborted
    )));
    // EMFILE: the process is out of descriptors.
    assert!(!one_connection_failed(&io::Error::from_raw_os_error(24)));
}

/// Serves by holding the connection, never logging in (unless told to), until forced.
struct Holding {
    log_in: bool,
    served: mpsc::UnboundedSender<SocketAddr>,
    refused: mpsc::UnboundedSender<OverCap>,
}

impl Handler for Holding {
    fn name(&self) -> &str {
        "test"
    }

    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        connection: Connection,
    ) -> impl Future<Output = ()> + Send + 'static {
        let served = self.served.clone();
        let log_in = self.log_in;
        async move {
            let Connection { permit, shutdown } = connection;
            // Told once the login place is given back (or kept), so tests know which.
            let permit = if log_in {
                permit.logged_in();
                None
            } else {
                Some(permit)
            };
            let _ = served.send(peer);
            shutdown.forced().await;
            drop((permit, stream));
        }
    }

    fn refuse(&self, _stream: TcpStream, _peer: SocketAddr, why: &OverCap) {
        let _ = self.refused.send(*why);
    }
}

struct Running {
    addr: SocketAddr,
    served: mpsc::UnboundedReceiver<SocketAddr>,
    refused: mpsc::UnboundedReceiver<OverCap>,
    controller: ShutdownController,
    limiter: Arc<Limiter>,
    listener: tokio::task::JoinHandle<()>,
}

async fn start(limits: Limits, log_in: bool) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (served_tx, served) = mpsc::unbounded_channel();
    let (refused_tx, refused) = mpsc::unbounded_channel();
    let controller = ShutdownController::new();
    let handler = Holding {
        log_in,
        served: served_tx,
        refused: refused_tx,
    };
    let limiter = Limiter::new(limits);
    let listener = tokio::spawn(Listener::serve(
        listener,
        limiter.clone(),
        controller.handle(),
        handler,
    ));
    Running {
        addr,
        served,
        refused,
        controller,
        limiter,
        listener,
    }
}

/// Connects to `to` from the loopback address `from` (every 127/8 address reaches a loopback
/// listener).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let local = SocketAddr::new(IpAddr::from(from), 0);
    socket.bind(local).expect("bind the client's address");
    socket.connect(to).await.expect("connect")
}

#[tokio::test]
async fn connections_over_the_login_caps_are_refused_and_others_still_served() {
    let limits = Limits {
        max_connections: 10,
        max_logging_in: 3,
        max_logging_in_per_address: 2,
    };
    let mut run = start(limits, false).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(connect_from([127, 0, 0, 1], run.addr).await);
        let peer = run.served.recv().await.expect("served");
        assert_eq!(peer.ip(), IpAddr::from([127, 0, 0, 1]));
    }
    held.push(connect_from([127, 0, 0, 1], run.addr).await);
    assert!(matches!(
        run.refused.recv().await,
        Some(OverCap::LoggingInFromAddress { limit: 2, .. })
    ));
    // Another address still logs in...
    held.push(connect_from([127, 0, 0, 2], run.addr).await);
    let peer = run.served.recv().await.expect("served");
    assert_eq!(peer.ip(), IpAddr::from([127, 0, 0, 2]));
    // ...until the global cap on logins is met.
    held.push(connect_from([127, 0, 0, 3], run.addr).await);
    assert_eq!(
        run.refused.recv().await,
        Some(OverCap::LoggingIn { limit: 3 })
    );
    let outcome = run
        .controller
        .shut_down(Duration::ZERO, Duration::from_secs(3600))
        .await;
    assert_eq!(outcome, DrainOutcome::Forced);
    // Every place was given back.
    assert_eq!(run.limiter.open_and_logging_in(), (0, 0));
}

#[tokio::test]
async fn logged_in_connections_are_capped_by_max_connections() {
    let limits = Limits {
        max_connections: 2,
        max_logging_in: 1,
        max_logging_in_per_address: 1,
    };
    let mut run = start(limits, true).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(connect_from([127, 0, 0, 1], run.addr).await);
        run.served.recv().await.expect("served");
    }
    held.push(connect_from([127, 0, 0, 1], run.addr).await);
    // Logged-in connections hold no login place: the third meets the connection cap.
    assert_eq!(
        run.refused.recv().await,
        Some(OverCap::Connections { limit: 2 })
    );
    run.controller.force();
}

#[tokio::test]
async fn draining_closes_the_listening_socket() {
    let limits = Limits {
        max_connections: 10,
        max_logging_in: 10,
        max_logging_in_per_address: 10,
    };
    let mut run = start(limits, false).await;
    let held = connect_from([127, 0, 0, 1], run.addr).await;
    run.served.recv().await.expect("served");
    run.controller.drain();
    run.listener.await.expect("the accept loop ends");
    let socket = TcpSocket::new_v4().expect("socket");
    let refused = socket.connect(run.addr).await;
    assert!(refused.is_err(), "nothing accepts any more");
    // The connection accepted before the drain is still being served.
    assert_eq!(run.limiter.open_and_logging_in(), (1, 1));
    drop(held);
    run.controller.force();
    run.controller.finished().await;
    assert_eq!(run.limiter.open_and_logging_in(), (0, 0));
}
