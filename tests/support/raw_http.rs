//! Reading one HTTP/1.1 reply by hand, for tests that hold raw connections (keep-alive,
//! hoarding, oversized heads) where a client library would hide what the server did.
//! Each test binary uses the parts it needs.

#![allow(dead_code)]

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// One reply: the status, the head in lower case (status line and headers) and the body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// Reads one reply whose body length is given by `content-length` (absent means none).
pub async fn read_reply<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Reply {
        status,
        headers: head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
