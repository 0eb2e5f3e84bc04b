use super::*;

/// Packets written are read back one by one, with their sequence numbers, however the bytes
/// arrive; a payload of the maximum length says that the next packet continues it.
#[tokio::test]
async fn packets_round_trip_and_long_payloads_continue() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let mut w = PacketWriter::new(a);
    let long = vec![7u8; MAX_PAYLOAD];
    let writer = tokio::spawn(async move {
        w.send(0, b"\x03SELECT 1").await.expect("send");
        w.send(1, &long).await.expect("send");
        w.send(2, b"").await.expect("send");
        w.flush().await.expect("flush");
    });
    let mut r = PacketReader::new(b, MAX_PAYLOAD);
    let first = r.next().await.expect("first");
    assert_eq!((first.seq, first.first(), first.continues()), (0, 3, false));
    let second = r.next().await.expect("second");
    assert!(second.continues());
    assert_eq!(second.payload.len(), MAX_PAYLOAD);
    let third = r.next().await.expect("third");
    assert_eq!((third.seq, third.payload.len()), (2, 0));
    writer.await.expect("writer");
    assert!(matches!(r.next().await, Err(PacketError::Closed)));
}

/// Before login a packet longer than allowed is refused from its header, before its payload is
/// read or buffered.
#[tokio::test]
async fn oversized_packets_are_refused_from_their_header() {
    let (mut a, b) = tokio::io::duplex(64);
    tokio::io::AsyncWriteExt::write_all(&mut a, &[0xff, 0xff, 0x00, 0])
        .await
        .expect("write");
    let mut r = PacketReader::new(b, 1024);
    assert!(matches!(r.next().await, Err(PacketError::TooLarge(0xffff))));
}
