//! Native-messaging framing, as the browsers do it: a 32-bit length in native byte order, then
//! that many bytes of UTF-8 JSON. An inbound length over the cap is refused at once, before
//! anything is allocated or read: the browsers never send one, so the stream is not one we can
//! trust to resynchronise on (a length of 0xFFFFFFF0 would have us skip 4 GiB that may never
//! come), and the session answers and ends. Outbound frames of 1 MiB or more are never written.

use selfservice_rules::protocol::{MAX_HOST_FRAME_BYTES, MAX_REQUEST_BYTES};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

/// What one read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A frame's body. Zeroized when dropped: requests carry passcodes.
    Frame(Zeroizing<Vec<u8>>),
    /// A frame whose declared length was over the cap; nothing after the length was read.
    Oversize(u32),
    /// A zero-length frame.
    Empty,
    /// End of input (the browser closed the port), cleanly or mid-frame.
    End { truncated: bool },
}

pub async fn read_frame<R: AsyncRead + Unpin>(input: &mut R) -> std::io::Result<Inbound> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        let n = input.read(&mut header[got..]).await?;
        if n == 0 {
            return Ok(Inbound::End { truncated: got > 0 });
        }
        got += n;
    }
    let length = u32::from_ne_bytes(header);
    if length == 0 {
        return Ok(Inbound::Empty);
    }
    if length > MAX_REQUEST_BYTES {
        return Ok(Inbound::Oversize(length));
    }
    let mut body = Zeroizing::new(vec![0u8; length as usize]);
    let mut filled = 0;
    while filled < body.len() {
        let n = input.read(&mut body[filled..]).await?;
        if n == 0 {
            return Ok(Inbound::End { truncated: true });
        }
        filled += n;
    }
    Ok(Inbound::Frame(body))
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("a {0}-byte frame is over the browsers' 1 MiB limit")]
    TooLarge(usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes one frame in a single write and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    output: &mut W,
    body: &[u8],
) -> Result<(), WriteError> {
    if body.len() > MAX_HOST_FRAME_BYTES {
        return Err(WriteError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_ne_bytes());
    frame.extend_from_slice(body);
    output.write_all(&frame).await?;
    output.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_ne_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[tokio::test]
    async fn frames_and_endings_are_told_apart() {
        let mut input: Vec<u8> = frame(b"{}");
        input.extend(0u32.to_ne_bytes());
        input.extend(frame(b"[]"));
        input.extend([1, 0]);
        let mut reader = &input[..];
        assert_eq!(
            read_frame(&mut reader).await.ok(),
            Some(Inbound::Frame(Zeroizing::new(b"{}".to_vec())))
        );
        assert_eq!(read_frame(&mut reader).await.ok(), Some(Inbound::Empty));
        assert_eq!(
            read_frame(&mut reader).await.ok(),
            Some(Inbound::Frame(Zeroizing::new(b"[]".to_vec())))
        );
        assert_eq!(
            read_frame(&mut reader).await.ok(),
            Some(Inbound::End { truncated: true })
        );
        let mut empty: &[u8] = &[];
        assert_eq!(
            read_frame(&mut empty).await.ok(),
            Some(Inbound::End { truncated: false })
        );
        let mut short_body: &[u8] = &[5, 0, 0, 0, b'{'];
        assert_eq!(
            read_frame(&mut short_body).await.ok(),
            Some(Inbound::End { truncated: true })
        );
    }

    #[tokio::test]
    async fn an_oversize_length_is_refused_without_reading_on() {
        for length in [MAX_REQUEST_BYTES + 1, 0xFFFF_FFF0] {
            // Only the length: a reader that tried to skip the body would see the end instead.
            let header = length.to_ne_bytes();
            let mut reader = &header[..];
            assert_eq!(
                read_frame(&mut reader).await.ok(),
                Some(Inbound::Oversize(length))
            );
        }
    }

    #[tokio::test]
    async fn no_frame_of_a_mebibyte_is_written() {
        let mut out = Vec::new();
        assert!(write_frame(&mut out, &vec![b' '; MAX_HOST_FRAME_BYTES + 1])
            .await
            .is_err());
        assert!(out.is_empty());
        write_frame(&mut out, b"{}").await.expect("small frame");
        assert_eq!(out, frame(b"{}"));
    }
}
