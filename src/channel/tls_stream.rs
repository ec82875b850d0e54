//! A TLS client stream that holds buffers only while they hold bytes.
//!
//! rustls's buffered connection (what tokio-rustls drives) keeps a 4 KiB buffer for incoming records for the
//! life of the connection, whether anything is in it or not: 4 KiB on every idle `wss://` channel. Its
//! *unbuffered* connection leaves the buffers to the caller. This stream reads each burst into a buffer
//! borrowed from the thread's pool (the one [`super::burst`] uses) and keeps only the bytes of a record that
//! has not arrived whole; decrypted bytes the reader had no room for and encrypted bytes not yet written are
//! kept the same way, so an idle stream owns no buffer at all.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::client::ClientConnectionData;
use rustls::client::UnbufferedClientConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::burst::{borrow_buffer, give_back};

/// The least room a socket read gets after the bytes of a record that has not arrived whole.
const READ_ROOM: usize = 4096;
/// The most plaintext one `poll_write` encrypts (one full TLS record).
const WRITE_CHUNK: usize = 16 * 1024;
/// Room for a record's header, nonce, tag and content type, per record, with margin.
const RECORD_OVERHEAD: usize = 64;
/// The most incoming bytes kept between reads: a handshake message spanning records (rustls refuses those
/// over 64 KiB) and a record (at most 16 KiB and its overhead). rustls bounds both; this bound is ours, so
/// that a server cannot make a channel hold more whatever rustls does.
const MOST_KEPT: usize = 0x1_0000 + 17 * 1024;

/// What rustls can do next once it has taken all it can of the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The handshake needs more bytes from the server.
    Handshaking,
    /// The handshake is done: application data may be written, more may be read.
    Open,
    /// Both sides sent close_notify.
    Closed,
}

/// Where decrypted bytes go: the reader's buffer while it has room, the rest kept for the next read.
struct Plaintext<'r, 'b> {
    out: &'r mut ReadBuf<'b>,
    overflow: &'r mut Vec<u8>,
}

impl Plaintext<'_, '_> {
    fn put(&mut self, bytes: &[u8]) {
        let n = self.out.remaining().min(bytes.len());
        self.out.put_slice(&bytes[..n]);
        self.overflow.extend_from_slice(&bytes[n..]);
    }
}

pub(super) struct TlsStream {
    conn: UnbufferedClientConnection,
    tcp: TcpStream,
    /// The first bytes of a record that has not arrived whole (empty, without capacity, between records).
    partial: Vec<u8>,
    /// Decrypted bytes the reader has not taken yet, from `taken` on.
    overflow: Vec<u8>,
    taken: usize,
    /// Encrypted bytes not yet written to the socket, from `written` on.
    outgoing: Vec<u8>,
    written: usize,
    /// The server sent close_notify: reads end here.
    peer_closed: bool,
    /// Our close_notify is queued.
    closing: bool,
    /// rustls refused what the server sent (or we refused it): the connection is over. rustls must not be
    /// called again then (beyond the one call, with the same bytes, that takes its alert: `queue_alert`):
    /// its state still points into the bytes it refused (it panics on a fresh buffer).
    failed: bool,
}

impl TlsStream {
    /// Runs the TLS handshake with `name` over `tcp`.
    pub(super) async fn connect(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> io::Result<TlsStream> {
        let conn = UnbufferedClientConnection::new(config, name).map_err(invalid)?;
        let mut stream = TlsStream {
            conn,
            tcp,
            partial: Vec::new(),
            overflow: Vec::new(),
            taken: 0,
            outgoing: Vec::new(),
            written: 0,
            peer_closed: false,
            closing: false,
            failed: false,
        };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The client speaks first: its hello is queued before any byte arrives.
        let mut next = self.advance_without_bytes()?;
        loop {
            ready!(self.poll_write_outgoing(cx))?;
            match next {
                Next::Open => return Poll::Ready(Ok(())),
                Next::Closed => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    )));
                }
                Next::Handshaking => {}
            }
            let mut nowhere = ReadBuf::new(&mut []);
            next = ready!(self.poll_read_record(cx, &mut nowhere))?;
        }
    }

    /// Bytes this stream holds in buffers of its own (zero on an idle stream).
    #[cfg(test)]
    fn held_capacity(&self) -> usize {
        self.partial.capacity() + self.overflow.capacity() + self.outgoing.capacity()
    }

    /// An error once rustls has failed: nothing more may be asked of it.
    fn usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the TLS connection failed earlier",
            ));
        }
        Ok(())
    }

    /// Remembers a failure of rustls (see `failed`).
    fn fail_on_error<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        self.failed |= result.is_err();
        result
    }

    /// Lets rustls act on what it already has (queued handshake messages, a key update to answer).
    fn advance_without_bytes(&mut self) -> io::Result<Next> {
        self.usable()?;
        let mut none: [u8; 0] = [];
        let mut nowhere = ReadBuf::new(&mut []);
        let mut plaintext = Plaintext {
            out: &mut nowhere,
            overflow: &mut self.overflow,
        };
        let driven = drive(
            &mut self.conn,
            &mut none,
            &mut plaintext,
            &mut self.outgoing,
            &mut self.peer_closed,
        );
        self.fail_on_error(driven).map(|(_, next)| next)
    }

    /// Reads what the socket has (after the start of a record kept from before) and runs it through rustls;
    /// decrypted bytes go to `out`, then to `overflow`. Pending when the socket has nothing.
    fn poll_read_record(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<Next>> {
        self.usable()?;
        let mut buffer = borrow_buffer();
        let kept = self.partial.len();
        if buffer.len() < kept + READ_ROOM {
            buffer.resize(kept + READ_ROOM, 0);
        }
        buffer[..kept].copy_from_slice(&self.partial);
        let mut into = ReadBuf::new(&mut buffer[kept..]);
        let read = match Pin::new(&mut self.tcp).poll_read(cx, &mut into) {
            Poll::Ready(Ok(())) => into.filled().len(),
            other => {
                give_back(buffer);
                return other.map_ok(|()| Next::Open);
            }
        };
        if read == 0 {
            give_back(buffer);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without a TLS close_notify",
            )));
        }
        let filled = kept + read;
        let mut plaintext = Plaintext {
            out,
            overflow: &mut self.overflow,
        };
        let driven = drive(
            &mut self.conn,
            &mut buffer[..filled],
            &mut plaintext,
            &mut self.outgoing,
            &mut self.peer_closed,
        );
        let driven = driven.and_then(|(taken, next)| {
            if filled - taken > MOST_KEPT {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the server sent more than a TLS record or handshake message can hold",
                ));
            }
            self.partial = buffer[taken..filled].to_vec();
            Ok(next)
        });
        give_back(buffer);
        let driven = self.fail_on_error(driven);
        if driven.is_err() {
            // The alert rustls queued, if any: one attempt, without waiting for the socket (it is small).
            let _ = self.poll_write_outgoing(cx);
        }
        Poll::Ready(driven)
    }

    /// Writes the encrypted bytes waiting, then lets their buffer go.
    fn poll_write_outgoing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.outgoing = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Hands out decrypted bytes kept from an earlier read; false when there are none.
    fn take_overflow(&mut self, out: &mut ReadBuf<'_>) -> bool {
        if self.taken >= self.overflow.len() {
            return false;
        }
        let n = out.remaining().min(self.overflow.len() - self.taken);
        out.put_slice(&self.overflow[self.taken..self.taken + n]);
        self.taken += n;
        if self.taken == self.overflow.len() {
            self.overflow = Vec::new();
            self.taken = 0;
        }
        true
    }
}

/// Runs rustls over `incoming` until it needs more bytes: records it decrypts go to `plaintext`, records it
/// encodes (handshake messages, alerts, key updates) to the end of `outgoing`. Returns how many bytes of
/// `incoming` it took (the rest is the start of a record) and what comes next.
fn drive(
    conn: &mut UnbufferedClientConnection,
    incoming: &mut [u8],
    plaintext: &mut Plaintext<'_, '_>,
    outgoing: &mut Vec<u8>,
    peer_closed: &mut bool,
) -> io::Result<(usize, Next)> {
    let mut taken = 0;
    loop {
        let status = conn.process_tls_records(&mut incoming[taken..]);
        let mut discard = status.discard;
        let state = match status.state {
            Ok(state) => state,
            Err(e) => {
                queue_alert(conn, &mut incoming[taken + discard..], outgoing);
                return Err(invalid(e));
            }
        };
        match state {
            ConnectionState::ReadTraffic(mut records) => {
                while let Some(record) = records.next_record() {
                    let record = record.map_err(invalid)?;
                    discard += record.discard;
                    plaintext.put(record.payload);
                }
            }
            ConnectionState::EncodeTlsData(message) => encode(message, outgoing)?,
            // What was encoded is in `outgoing`; the caller writes it before it waits for the server.
            ConnectionState::TransmitTlsData(transmit) => transmit.done(),
            ConnectionState::BlockedHandshake => return Ok((taken + discard, Next::Handshaking)),
            ConnectionState::WriteTraffic(_) => return Ok((taken + discard, Next::Open)),
            ConnectionState::PeerClosed => *peer_closed = true,
            ConnectionState::Closed => return Ok((taken + discard, Next::Closed)),
            _ => return Err(io::Error::other("an unexpected TLS state")),
        }
        taken += discard;
    }
}

/// Appends a record rustls encoded (a handshake message, an alert, a key update) to `outgoing`.
fn encode(
    mut message: EncodeTlsData<'_, ClientConnectionData>,
    outgoing: &mut Vec<u8>,
) -> io::Result<()> {
    let start = outgoing.len();
    let needed = match message.encode(&mut []) {
        Ok(_) => 0,
        Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
            required_size
        }
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    if needed > 0 {
        outgoing.resize(start + needed, 0);
        let n = message
            .encode(&mut outgoing[start..])
            .map_err(|e| io::Error::other(e.to_string()))?;
        outgoing.truncate(start + n);
    }
    Ok(())
}

/// After rustls refused what it was given (a certificate we do not trust, a record that does not decrypt),
/// lets it hand over the alert it queued for the server, so that the server learns why we hang up. rustls is
/// asked once more, with the bytes it did not discard, as its contract asks of every next call: given other
/// bytes, a handshake message it had begun to join would point into nothing. It hands out a queued alert
/// before it reads anything; when it queued none, it refuses again or waits for more, and either way is not
/// asked again (the stream is failed).
fn queue_alert(conn: &mut UnbufferedClientConnection, rest: &mut [u8], outgoing: &mut Vec<u8>) {
    if let Ok(ConnectionState::EncodeTlsData(message)) = conn.process_tls_records(rest).state {
        let _ = encode(message, outgoing);
    }
}

/// Encrypts `data` to the end of `outgoing`, on an open connection whose queued records (a key update) are
/// already there.
fn encrypt(
    conn: &mut UnbufferedClientConnection,
    data: &[u8],
    outgoing: &mut Vec<u8>,
) -> io::Result<()> {
    let mut none: [u8; 0] = [];
    let records = data.len().div_ceil(WRITE_CHUNK).max(1);
    let mut room = data.len() + records * RECORD_OVERHEAD;
    loop {
        let ConnectionState::WriteTraffic(mut writer) =
            conn.process_tls_records(&mut none).state.map_err(invalid)?
        else {
            return Err(io::Error::other(
                "the TLS connection stopped being writable",
            ));
        };
        let start = outgoing.len();
        outgoing.resize(start + room, 0);
        match writer.encrypt(data, &mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > room =>
            {
                outgoing.truncate(start);
                room = required_size;
            }
            Err(e) => {
                outgoing.truncate(start);
                return Err(io::Error::other(e.to_string()));
            }
        }
    }
}

/// Queues our close_notify at the end of `outgoing`.
fn close_notify(conn: &mut UnbufferedClientConnection, outgoing: &mut Vec<u8>) -> io::Result<()> {
    let mut none: [u8; 0] = [];
    let ConnectionState::WriteTraffic(mut writer) =
        conn.process_tls_records(&mut none).state.map_err(invalid)?
    else {
        // Closed already, or never open: nothing to say.
        return Ok(());
    };
    let start = outgoing.len();
    outgoing.resize(start + RECORD_OVERHEAD, 0);
    match writer.queue_close_notify(&mut outgoing[start..]) {
        Ok(n) => {
            outgoing.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            outgoing.truncate(start);
            Err(io::Error::other(e.to_string()))
        }
    }
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.take_overflow(out) {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.peer_closed {
                return Poll::Ready(Ok(()));
            }
            // Anything rustls queued while reading (the answer to a key update) goes out with the next write;
            // try now, without waiting for it.
            if let Poll::Ready(Err(e)) = this.poll_write_outgoing(cx) {
                return Poll::Ready(Err(e));
            }
            let before = out.filled().len();
            let next = ready!(this.poll_read_record(cx, out))?;
            if out.filled().len() > before || this.take_overflow(out) || next == Next::Closed {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.usable()?;
        ready!(this.poll_write_outgoing(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let data = &data[..data.len().min(WRITE_CHUNK)];
        // What rustls queued first (the answer to a key update) goes before the data.
        if this.advance_without_bytes()? != Next::Open {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the TLS connection is not open for writing",
            )));
        }
        let encrypted = encrypt(&mut this.conn, data, &mut this.outgoing);
        this.fail_on_error(encrypted)?;
        // The bytes are ours now; what the socket does not take yet goes with the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_write_outgoing(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_outgoing(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A failed connection ends without a close_notify: rustls cannot make one any more.
        if !this.closing && !this.failed {
            this.closing = true;
            let queued = close_notify(&mut this.conn, &mut this.outgoing);
            this.fail_on_error(queued)?;
        }
        ready!(this.poll_write_outgoing(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A TLS server (tokio-rustls, the buffered side) with a fresh certificate for localhost, and client
    /// settings that trust it.
    fn server_and_client() -> (tokio_rustls::TlsAcceptor, Arc<rustls::ClientConfig>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert: CertificateDer<'static> = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = crate::tls::trusting(roots).unwrap();
        (
            tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            Arc::new(client),
        )
    }

    async fn pair(
        client: Arc<rustls::ClientConfig>,
        acceptor: tokio_rustls::TlsAcceptor,
    ) -> (
        io::Result<TlsStream>,
        io::Result<tokio_rustls::server::TlsStream<TcpStream>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await
        };
        let client = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            TlsStream::connect(client, name, tcp).await
        };
        tokio::join!(client, server)
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[tokio::test]
    async fn carries_bytes_both_ways_across_many_records_and_then_holds_no_buffer() {
        let (acceptor, client) = server_and_client();
        let (client, server) = pair(client, acceptor).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());

        // More than one record each way, and in reads smaller than a record.
        let up = pattern(100_000, 1);
        let down = pattern(150_000, 7);
        let server_side = async {
            let mut got = vec![0; up.len()];
            server.read_exact(&mut got).await.unwrap();
            server.write_all(&down).await.unwrap();
            server.flush().await.unwrap();
            (got, server)
        };
        let client_side = async {
            client.write_all(&up).await.unwrap();
            client.flush().await.unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 2048];
            while got.len() < down.len() {
                let n = client.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the stream ended early");
                got.extend_from_slice(&chunk[..n]);
            }
            got
        };
        let ((got_up, _server), got_down) = tokio::join!(server_side, client_side);
        assert_eq!(got_up, up);
        assert_eq!(got_down, down);
        assert_eq!(client.held_capacity(), 0, "an idle stream holds no buffer");
    }

    #[tokio::test]
    async fn after_a_key_update_from_the_server_both_ways_keep_working() {
        let (acceptor, client) = server_and_client();
        let (client, server) = pair(client, acceptor).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());

        // The server changes its keys and asks the client to change its own (a socket open for a day
        // may see this): the client must follow to read what comes after.
        server.get_mut().1.refresh_traffic_keys().unwrap();
        server.write_all(b"after the update").await.unwrap();
        server.flush().await.unwrap();
        let mut got = [0u8; 16];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"after the update");

        // Whatever the client queued in answer goes out before the reply, in order.
        client.write_all(b"reply").await.unwrap();
        client.flush().await.unwrap();
        let mut reply = [0u8; 5];
        server.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"reply");
    }

    #[tokio::test]
    async fn the_servers_close_notify_ends_the_stream_and_ours_reaches_the_server() {
        let (acceptor, client) = server_and_client();
        let (client, server) = pair(client, acceptor).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());

        server.write_all(b"last words").await.unwrap();
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");

        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let n = server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(n, 0, "the server sees a clean end");
    }

    #[tokio::test]
    async fn a_record_that_does_not_decrypt_ends_the_stream_with_errors_not_a_panic() {
        let (acceptor, client) = server_and_client();
        let (client, server) = pair(client, acceptor).await;
        let mut client = client.unwrap();
        let (mut tcp, _) = server.unwrap().into_inner();
        // An application data record under no key the client has.
        tcp.write_all(&[0x17, 0x03, 0x03, 0x00, 0x20])
            .await
            .unwrap();
        tcp.write_all(&[0xab; 0x20]).await.unwrap();
        let mut got = [0u8; 64];
        let err = client.read(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // What the WebSocket layer does next (a close frame, a shutdown) fails or ends quietly: rustls is
        // not asked again.
        let err = client.write_all(b"close").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        assert!(client.read(&mut got).await.is_err());
        let _ = client.shutdown().await;
        drop(client);
        // All the server gets back is the alert rustls queued (bad_record_mac), as one TLS 1.3 record.
        let mut back = Vec::new();
        tcp.read_to_end(&mut back).await.unwrap();
        assert!(back.starts_with(&[0x17, 0x03, 0x03]), "{back:?}");
        let length = usize::from(u16::from_be_bytes([back[3], back[4]]));
        assert_eq!(back.len(), 5 + length, "one record: {back:?}");
    }

    #[tokio::test]
    async fn a_connection_cut_without_close_notify_is_an_error() {
        let (acceptor, client) = server_and_client();
        let (client, server) = pair(client, acceptor).await;
        let mut client = client.unwrap();
        let (tcp, _) = server.unwrap().into_inner();
        drop(tcp);
        let mut got = Vec::new();
        let err = client.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_server_that_sends_an_endless_handshake_message_is_cut_off() {
        let (_, client) = server_and_client();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut hello = [0u8; 512];
            let _ = tcp.read(&mut hello).await.unwrap();
            // Handshake records, the first opening a ServerHello that claims 16 MiB.
            let mut sent = 0usize;
            while sent < 4 << 20 {
                let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00];
                let mut payload = vec![0u8; 0x4000];
                if sent == 0 {
                    payload[..4].copy_from_slice(&[0x02, 0xff, 0xff, 0xff]);
                }
                record.extend_from_slice(&payload);
                if tcp.write_all(&record).await.is_err() {
                    break;
                }
                sent += record.len();
            }
            sent
        };
        let connect = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            TlsStream::connect(client, name, tcp).await
        };
        let (client, sent) = tokio::join!(connect, server);
        let err = client.err().expect("the handshake must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(sent < 4 << 20, "the client stopped reading once it refused");
    }

    #[tokio::test]
    async fn a_server_the_settings_do_not_trust_fails_the_handshake() {
        let (acceptor, _) = server_and_client();
        let (_, stranger) = server_and_client();
        let (client, server) = pair(stranger, acceptor).await;
        let err = client.err().expect("the handshake must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("certificate"), "{err}");
        // The server is told: an alert, not a connection cut without one. (Which alert is rustls's choice:
        // both certificates name the same issuer, so the signature check fails, and that is decrypt_error.)
        let refused = server.expect_err("the server's handshake fails too");
        assert!(
            refused.to_string().contains("received fatal alert"),
            "{refused}"
        );
    }
}
