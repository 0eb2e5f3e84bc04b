use super::*;
use std::net::Ipv4Addr;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

const SMALL: Limits = Limits {
    max_connections: 5,
    max_logging_in: 3,
    max_logging_in_per_address: 2,
};

#[test]
fn one_address_cannot_take_every_login_place() {
    let mut counts = Counts::default();
    counts.open(&SMALL, ip(1)).expect("first");
    counts.open(&SMALL, ip(1)).expect("second");
    assert_eq!(
        counts.open(&SMALL, ip(1)),
        Err(OverCap::LoggingInFromAddress {
            address: ip(1),
            limit: 2
        })
    );
    // Another address still gets in.
    counts.open(&SMALL, ip(2)).expect("other address");
    assert_eq!(counts.logging_in_from(ip(1)), 2);
    assert_eq!(counts.connections(), 3);
}

#[test]
fn logins_in_all_are_capped_across_addresses() {
    let mut counts = Counts::default();
    for n in 1..=3 {
        counts.open(&SMALL, ip(n)).expect("under the cap");
    }
    assert_eq!(
        counts.open(&SMALL, ip(9)),
        Err(OverCap::LoggingIn { limit: 3 })
    );
    // A refused connection is not counted.
    assert_eq!(counts.connections(), 3);
    assert_eq!(counts.logging_in_from(ip(9)), 0);
}

#[test]
fn logged_in_connections_free_their_login_place_but_keep_their_connection_place() {
    let mut counts = Counts::default();
    for n in 1..=3 {
        counts.open(&SMALL, ip(n)).expect("open");
    }
    counts.login_over(ip(1));
    counts.login_over(ip(2));
    counts.open(&SMALL, ip(4)).expect("a login place is free");
    counts.open(&SMALL, ip(5)).expect("a login place is free");
    assert_eq!(
        counts.open(&SMALL, ip(6)),
        Err(OverCap::Connections { limit: 5 })
    );
    counts.closed();
    counts.login_over(ip(3));
    counts.open(&SMALL, ip(6)).expect("a connection ended");
}

#[test]
fn addresses_are_forgotten_once_their_logins_are_over() {
    let mut counts = Counts::default();
    for n in 0..3 {
        counts.open(&SMALL, ip(n)).expect("open");
        counts.login_over(ip(n));
    }
    assert_eq!(counts.addresses(), 0);
    assert_eq!(counts.logging_in(), 0);
}

#[test]
fn an_unknown_login_end_does_not_underflow() {
    let mut counts = Counts::default();
    counts.login_over(ip(1));
    counts.closed();
    assert_eq!((counts.connections(), counts.logging_in()), (0, 0));
}

#[test]
fn guards_give_their_places_back_when_dropped() {
    let limiter = Limiter::new(SMALL);
    let (slot, permit) = limiter.admit(ip(1)).expect("admit");
    assert_eq!(limiter.open_and_logging_in(), (1, 1));
    permit.logged_in();
    assert_eq!(limiter.open_and_logging_in(), (1, 0));
    drop(slot);
    assert_eq!(limiter.open_and_logging_in(), (0, 0));
    // A connection that ends before logging in gives both back.
    let both = limiter.admit(ip(1)).expect("admit");
    drop(both);
    assert_eq!(limiter.open_and_logging_in(), (0, 0));
}

#[test]
fn ipv4_mapped_addresses_count_as_their_ipv4_address() {
    let limiter = Limiter::new(SMALL);
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("address");
    let _a = limiter.admit(mapped).expect("first");
    let _b = limiter.admit(ip(1)).expect("second");
    assert!(matches!(
        limiter.admit(mapped),
        Err(OverCap::LoggingInFromAddress { .. })
    ));
}

#[test]
fn refusals_are_reported_at_most_once_a_second_with_their_count() {
    let mut log = RefusalLog::default();
    let t0 = Instant::now();
    assert_eq!(log.refused(t0), Some((1, 1)));
    assert_eq!(log.refused(t0 + Duration::from_millis(10)), None);
    assert_eq!(log.refused(t0 + Duration::from_millis(20)), None);
    assert_eq!(log.refused(t0 + Duration::from_secs(1)), Some((3, 4)));
}

#[test]
fn the_client_is_not_told_other_clients_counts() {
    let why = OverCap::LoggingInFromAddress {
        address: ip(1),
        limit: 64,
    };
    assert!(!why.client_message().contains("64"));
    assert!(why.to_string().contains("64"), "the log says which cap");
}
