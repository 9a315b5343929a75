//! Real libp2p links between transports on 127.0.0.1.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use transport::{Command, LinkEvent, Transport, TransportConfig, identity};

const WAIT: Duration = Duration::from_secs(20);

async fn node(
    seed: u8,
    configure: impl FnOnce(&mut TransportConfig),
) -> (Transport, libp2p::Multiaddr) {
    let mut config = TransportConfig {
        mdns: false,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        ..Default::default()
    };
    configure(&mut config);
    let mut transport = transport::start(identity::keypair_from_seed([seed; 32]), config).unwrap();
    let address = match timeout(WAIT, transport.events.recv())
        .await
        .unwrap()
        .unwrap()
    {
        LinkEvent::Listening { address } => address,
        other => panic!("unexpected {other:?}"),
    };
    let with_peer = address.with_p2p(transport.local_peer_id).unwrap();
    (transport, with_peer)
}

async fn next_up(transport: &mut Transport) -> (libp2p::PeerId, String, mpsc::Sender<Vec<u8>>) {
    loop {
        match timeout(WAIT, transport.events.recv())
            .await
            .expect("link up in time")
            .unwrap()
        {
            LinkEvent::Up {
                peer,
                server_name,
                frames,
            } => return (peer, server_name, frames),
            LinkEvent::Listening { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn next_frame(transport: &mut Transport) -> Vec<u8> {
    loop {
        match timeout(WAIT, transport.events.recv())
            .await
            .expect("frame in time")
            .unwrap()
        {
            LinkEvent::Frame { frame, .. } => return frame,
            LinkEvent::Up { .. } | LinkEvent::Listening { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn next_down(transport: &mut Transport) {
    loop {
        let event = timeout(WAIT, transport.events.recv())
            .await
            .expect("link down in time")
            .unwrap();
        if let LinkEvent::Down { .. } = event {
            return;
        }
    }
}

async fn peers(transport: &Transport) -> Vec<transport::PeerInfo> {
    let (reply, answer) = oneshot::channel();
    transport
        .commands
        .send(Command::Peers(reply))
        .await
        .unwrap();
    answer.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_peers_link_up_and_carry_frames_in_order() {
    let (mut a, a_address) = node(1, |_| {}).await;
    let (mut b, _) = node(2, |c| c.static_peers = vec![a_address.clone()]).await;
    let (peer_of_a, name_of_a, to_a) = next_up(&mut b).await;
    let (_, name_of_b, to_b) = next_up(&mut a).await;
    assert_eq!(peer_of_a, a.local_peer_id);
    assert_eq!(identity::peer_id_of(&name_of_a), Some(a.local_peer_id));
    assert_eq!(identity::peer_id_of(&name_of_b), Some(b.local_peer_id));
    for i in 0..50u8 {
        to_a.send(vec![i; usize::from(i) * 100]).await.unwrap();
    }
    for i in 0..50u8 {
        assert_eq!(next_frame(&mut a).await, vec![i; usize::from(i) * 100]);
    }
    to_b.send(b"back".to_vec()).await.unwrap();
    assert_eq!(next_frame(&mut b).await, b"back");
    let info = peers(&a).await;
    assert!(
        info.iter()
            .any(|p| p.peer_id == b.local_peer_id && p.connected && p.bytes_in > 100_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_cuts_the_link_and_unblocking_restores_it() {
    let (mut a, a_address) = node(3, |_| {}).await;
    let (mut b, _) = node(4, |c| c.static_peers = vec![a_address.clone()]).await;
    next_up(&mut b).await;
    next_up(&mut a).await;
    b.commands
        .send(Command::Block(a.local_peer_id))
        .await
        .unwrap();
    next_down(&mut b).await;
    next_down(&mut a).await;
    assert!(
        peers(&b)
            .await
            .iter()
            .any(|p| p.peer_id == a.local_peer_id && p.blocked && !p.connected)
    );
    b.commands
        .send(Command::Unblock(a.local_peer_id))
        .await
        .unwrap();
    let (_, _, to_a) = next_up(&mut b).await;
    to_a.send(b"again".to_vec()).await.unwrap();
    assert_eq!(next_frame(&mut a).await, b"again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_off_the_allowlist_cannot_link() {
    let outsider = identity::keypair_from_seed([6; 32]).public().to_peer_id();
    let friend = identity::keypair_from_seed([7; 32]).public().to_peer_id();
    let (mut a, a_address) = node(5, |c| c.allow_peers = Some(BTreeSet::from([friend]))).await;
    let (mut intruder, _) = node(6, |c| c.static_peers = vec![a_address.clone()]).await;
    assert_eq!(intruder.local_peer_id, outsider);
    let (mut ally, _) = node(7, |c| c.static_peers = vec![a_address.clone()]).await;
    let (peer, _, _) = next_up(&mut a).await;
    assert_eq!(peer, friend, "only the allowed peer links up");
    next_up(&mut ally).await;
    // The intruder's side may finish its handshake before the allowlist closes the
    // connection; whatever it then sends must never reach the node.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(event) = intruder.events.try_recv() {
        if let LinkEvent::Up { frames, .. } = event {
            let _ = frames.send(b"let me in".to_vec()).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(event) = a.events.try_recv() {
        let from_intruder = match &event {
            LinkEvent::Up { peer, .. } | LinkEvent::Frame { peer, .. } => *peer == outsider,
            _ => false,
        };
        assert!(!from_intruder, "the intruder got through: {event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emission_control_silences_and_restores() {
    let (mut a, a_address) = node(8, |_| {}).await;
    let (mut b, _) = node(9, |c| c.static_peers = vec![a_address.clone()]).await;
    next_up(&mut b).await;
    next_up(&mut a).await;
    b.commands.send(Command::Emcon(true)).await.unwrap();
    next_down(&mut b).await;
    next_down(&mut a).await;
    assert!(peers(&b).await.iter().all(|p| !p.connected));
    b.commands.send(Command::Emcon(false)).await.unwrap();
    let (_, _, to_a) = next_up(&mut b).await;
    to_a.send(b"after emcon".to_vec()).await.unwrap();
    assert_eq!(next_frame(&mut a).await, b"after emcon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_peers_are_redialled_after_a_disconnect() {
    let (mut a, a_address) = node(10, |_| {}).await;
    let (mut b, _) = node(11, |c| c.static_peers = vec![a_address.clone()]).await;
    next_up(&mut b).await;
    next_up(&mut a).await;
    a.commands
        .send(Command::Disconnect(b.local_peer_id))
        .await
        .unwrap();
    next_down(&mut b).await;
    next_down(&mut a).await;
    let (_, _, to_a) = next_up(&mut b).await;
    to_a.send(b"back again".to_vec()).await.unwrap();
    assert_eq!(next_frame(&mut a).await, b"back again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_the_link() {
    let (mut a, a_address) = node(12, |c| c.max_frame_bytes = 1000).await;
    let (mut b, _) = node(13, |c| c.static_peers = vec![a_address.clone()]).await;
    let (_, _, to_a) = next_up(&mut b).await;
    next_up(&mut a).await;
    to_a.send(vec![0; 5000]).await.unwrap();
    next_down(&mut a).await;
    next_down(&mut b).await;
    let (_, _, to_a) = next_up(&mut b).await;
    to_a.send(b"small".to_vec()).await.unwrap();
    assert_eq!(next_frame(&mut a).await, b"small");
}
