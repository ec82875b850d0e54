//! Reading a socket a burst at a time, under a WebSocket codec that asks for a little at a time.
//!
//! tungstenite's read buffer is as large as the most it reads in one call, and it keeps that buffer for the
//! life of the socket: with 4 KiB reads, 4 KiB on every idle channel. The channel's codec reads at most
//! [`CODEC_READ_BYTES`] at a time instead, from this reader, which still takes a whole burst off the socket in
//! one system call. The burst waits in a buffer borrowed from the thread's pool and goes back to the pool as
//! soon as the codec has taken all of it, so an idle socket holds no burst buffer at all.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most the codec above asks for at a time (tungstenite's `read_buffer_size`, kept by every socket for its
/// life). 1 KiB rather than 2: 1.1–1.4 KiB less per idle channel, and a frame larger than this only costs the
/// codec another copy out of the burst, not a system call (no throughput lost at 10,000/s or at saturation in
/// alternated runs).
pub(super) const CODEC_READ_BYTES: usize = 1024;
/// The most one read takes off the socket.
const BURST_BYTES: usize = 16 * 1024;
/// Burst buffers a thread keeps for re-use; more in use at once are allocated and freed.
const POOLED_BURSTS: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A zeroed buffer of at least `BURST_BYTES` (zeroed once, when first made).
pub(super) fn borrow_buffer() -> Vec<u8> {
    POOL.with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| vec![0; BURST_BYTES])
}

/// Keeps `buffer` for re-use, unless the pool is full or the buffer was grown far (a TLS stream grows one a
/// little to read after the start of a record, and up to 80 KiB to hold a handshake message spanning
/// records): the pool keeps at most `POOLED_BURSTS` buffers of at most two bursts each.
pub(super) fn give_back(buffer: Vec<u8>) {
    POOL.with_borrow_mut(|pool| {
        if pool.len() < POOLED_BURSTS && buffer.len() <= 2 * BURST_BYTES {
            pool.push(buffer);
        }
    });
}

/// What the last read brought that the codec has not taken yet.
struct Burst {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

/// A stream whose reads take whole bursts, handed out in the sizes asked for; writes pass through.
pub struct BurstReader<S> {
    inner: S,
    waiting: Option<Burst>,
}

impl<S> BurstReader<S> {
    pub(super) fn new(inner: S) -> BurstReader<S> {
        BurstReader {
            inner,
            waiting: None,
        }
    }
}

impl<S> Drop for BurstReader<S> {
    fn drop(&mut self) {
        if let Some(burst) = self.waiting.take() {
            give_back(burst.bytes);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for BurstReader<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.waiting.is_none() {
            if out.remaining() >= BURST_BYTES {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            let mut bytes = borrow_buffer();
            let mut into = ReadBuf::new(&mut bytes);
            match Pin::new(&mut this.inner).poll_read(cx, &mut into) {
                Poll::Ready(Ok(())) if !into.filled().is_empty() => {
                    let end = into.filled().len();
                    this.waiting = Some(Burst {
                        bytes,
                        start: 0,
                        end,
                    });
                }
                // The end of the stream, an error, or nothing yet: no burst to keep.
                other => {
                    give_back(bytes);
                    return other;
                }
            }
        }
        if let Some(burst) = &mut this.waiting {
            let n = out.remaining().min(burst.end - burst.start);
            out.put_slice(&burst.bytes[burst.start..burst.start + n]);
            burst.start += n;
            if burst.start == burst.end
                && let Some(done) = this.waiting.take()
            {
                give_back(done.bytes);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BurstReader<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_burst_is_read_once_and_handed_out_in_small_pieces_then_returned_to_the_pool() {
        let (mut far, near) = tokio::io::duplex(64 * 1024);
        let mut reader = BurstReader::new(near);
        let sent: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        far.write_all(&sent).await.unwrap();
        let mut got = Vec::new();
        let mut piece = [0u8; CODEC_READ_BYTES];
        while got.len() < sent.len() {
            let n = reader.read(&mut piece).await.unwrap();
            assert!(n > 0 && n <= CODEC_READ_BYTES);
            got.extend_from_slice(&piece[..n]);
            // The burst stays with the reader until all of it is taken, then none is held.
            assert_eq!(reader.waiting.is_some(), got.len() < sent.len());
        }
        assert_eq!(got, sent);
        let pooled = POOL.with_borrow(Vec::len);
        assert!(pooled >= 1, "the drained burst went back to the pool");
        // The end of the stream reads as the end, and takes nothing from the pool.
        drop(far);
        assert_eq!(reader.read(&mut piece).await.unwrap(), 0);
        assert_eq!(POOL.with_borrow(Vec::len), pooled);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers_of_bounded_size() {
        // A test thread of its own: its pool starts empty.
        std::thread::spawn(|| {
            let mut grown = borrow_buffer();
            grown.resize(BURST_BYTES * 4, 0);
            give_back(grown);
            assert_eq!(POOL.with_borrow(Vec::len), 0, "a grown buffer is let go");
            let mut grown_a_little = borrow_buffer();
            grown_a_little.resize(BURST_BYTES + 4096, 0);
            give_back(grown_a_little);
            assert_eq!(POOL.with_borrow(Vec::len), 1);
            for _ in 0..POOLED_BURSTS + 2 {
                give_back(vec![0; BURST_BYTES]);
            }
            assert_eq!(
                POOL.with_borrow(Vec::len),
                POOLED_BURSTS,
                "the pool is bounded"
            );
        })
        .join()
        .unwrap();
    }

    #[tokio::test]
    async fn writes_pass_through() {
        let (mut far, near) = tokio::io::duplex(1024);
        let mut writer = BurstReader::new(near);
        writer.write_all(b"ping").await.unwrap();
        writer.flush().await.unwrap();
        let mut got = [0u8; 4];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
    }
}
