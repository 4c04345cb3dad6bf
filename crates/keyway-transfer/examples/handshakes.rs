//! Handshakes per second, in process: a server and N client loops on 127.0.0.1, each loop
//! connecting (new TCP connection, full TLS 1.3 handshake with raw Ed25519 keys, mutual
//! authentication, key pinned), sending one message, reading the reply and closing.
//!
//!     cargo run --release -p keyway-transfer --example handshakes -- [SECONDS] [LOOPS]
//!
//! Prints one JSON line: handshakes, seconds, handshakes_per_s, loops. Unlike
//! bench/transfer/handshakes.sh (one CLI process per message), no process start-up is counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyway_transfer::{
    AuthorizedKeys, Client, Identity, Incoming, Reply, Server, ServerConfig, ServerPin,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let loops: usize = args.next().map_or(Ok(8), |s| s.parse())?;

    let server_identity = Identity::generate()?;
    let client = Arc::new(Identity::generate()?);
    let authorized = AuthorizedKeys::parse(&format!("{} bench", client.public_key()))?;
    let pin = ServerPin::Key(server_identity.public_key());
    let server = Server::bind(
        "127.0.0.1:0",
        ServerConfig::new(server_identity, authorized),
    )
    .await?;
    let addr = server.local_addr()?.to_string();
    tokio::spawn(server.serve(|_incoming: Incoming| async { Reply::new(0, "ok") }));

    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..loops {
        let (addr, client, pin) = (addr.clone(), client.clone(), pin.clone());
        let (done, stop) = (done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut connection = Client::connect(&addr, &client, pin.clone()).await?;
                let reply = connection.send_message("ping").await?;
                if reply != Reply::new(0, "ok") {
                    return Err(keyway_transfer::TransferError::Tls(
                        "unexpected reply".into(),
                    ));
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed);
    println!(
        "{{\"handshakes\":{count},\"seconds\":{elapsed:.2},\"handshakes_per_s\":{:.0},\"loops\":{loops}}}",
        count as f64 / elapsed
    );
    Ok(())
}
