//! What a socket runs over: plain TCP (`ws://`) or TLS (`wss://`).
//!
//! The TLS session's state is about a kilobyte held inline; boxed, it is paid by TLS sockets alone, not by
//! every socket as in an enum that holds it inline (tokio-tungstenite's `MaybeTlsStream` does: 1,112 bytes for
//! a plain socket whose stream needs 24). The TLS stream is ours ([`super::tls_stream`]): it holds no buffer
//! while idle.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::tls_stream::TlsStream;

pub(super) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write(cx, data),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(tcp) => tcp.is_write_vectored(),
            Transport::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn a_plain_socket_does_not_carry_the_tls_state() {
        // The point of the box: a transport is the size of a TCP stream and a tag, whichever it holds.
        assert!(std::mem::size_of::<Transport>() <= 2 * std::mem::size_of::<TcpStream>());
    }

    #[tokio::test]
    async fn a_plain_transport_carries_bytes_both_ways_and_shuts_down() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr);
        let (accepted, client) = tokio::join!(listener.accept(), client);
        let (mut server, _) = accepted.unwrap();
        let mut transport = Transport::Plain(client.unwrap());

        transport.write_all(b"ping").await.unwrap();
        transport.flush().await.unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");

        server.write_all(b"pong").await.unwrap();
        let mut back = [0u8; 4];
        transport.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"pong");

        transport.shutdown().await.unwrap();
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the server sees the end of the stream");
    }
}
