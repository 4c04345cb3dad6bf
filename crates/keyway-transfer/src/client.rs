//! The sending side: `Client::connect(addr, identity, pin).await?`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::frame::{Frame, Kind, read_frame, write_frame};
use crate::{Identity, PublicKey, Reply, ServerPin, TransferError, tls};

/// Bytes per DATA frame the client sends.
const CHUNK: usize = 256 * 1024;

pub struct Client {
    pub(crate) stream: TlsStream<TcpStream>,
    server_key: PublicKey,
}

impl Client {
    /// Connects, completes the TLS handshake (10 s at most), and checks the server key against
    /// `pin` before anything is sent.
    pub async fn connect(
        addr: &str,
        identity: &Identity,
        pin: ServerPin,
    ) -> Result<Client, TransferError> {
        let config = tls::client_config(identity)?;
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| TransferError::Timeout("connect"))??;
        tcp.set_nodelay(true)?;
        // The name is not checked (the key is pinned instead); SNI carries it for the logs.
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| TransferError::Tls(format!("bad host name {host:?}: {e}")))?;
        let mut stream = tokio::time::timeout(
            Duration::from_secs(10),
            TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .map_err(|_| TransferError::Timeout("handshake"))?
        .map_err(|e| TransferError::Tls(e.to_string()))?;
        let server_key = tls::peer_key(stream.get_ref().1.peer_certificates())
            .ok_or_else(|| TransferError::Tls("server presented no key".into()))?;
        pin.check(addr, &server_key)?;
        stream.get_mut().1.set_buffer_limit(Some(tls::SEND_BUFFER));
        Ok(Client { stream, server_key })
    }

    pub fn server_key(&self) -> PublicKey {
        self.server_key
    }

    pub async fn send_message(&mut self, text: &str) -> Result<Reply, TransferError> {
        self.request(Kind::Message, "", text.as_bytes()).await
    }

    pub async fn send_data(&mut self, name: &str, bytes: &[u8]) -> Result<Reply, TransferError> {
        self.request(Kind::Data, name, bytes).await
    }

    async fn request(
        &mut self,
        kind: Kind,
        name: &str,
        body: &[u8],
    ) -> Result<Reply, TransferError> {
        let header = Frame::Request {
            kind,
            flags: 0,
            size: body.len() as u64,
            name: name.to_string(),
        };
        write_frame(&mut self.stream, &header).await?;
        for chunk in body.chunks(CHUNK) {
            write_frame(&mut self.stream, &Frame::Data(chunk.to_vec())).await?;
        }
        write_frame(&mut self.stream, &Frame::End).await?;
        self.stream.flush().await?;
        match read_frame(&mut self.stream).await? {
            Some(Frame::Response { status, body }) => Ok(Reply { status, body }),
            Some(Frame::Error { code, message }) => Err(TransferError::Remote { code, message }),
            Some(_) => Err(TransferError::Protocol(
                crate::frame::FrameError::Malformed("reply (unexpected frame)"),
            )),
            None => Err(TransferError::Protocol(crate::frame::FrameError::Truncated)),
        }
    }
}
