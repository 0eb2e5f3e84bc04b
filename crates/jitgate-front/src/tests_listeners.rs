use super::*;

/// Why binding failed in these tests.
#[derive(Debug)]
enum Failed {
    Build(String),
    Bind(BindError),
}

impl From<BindError> for Failed {
    fn from(e: BindError) -> Self {
        Failed::Bind(e)
    }
}

/// Binds `resources`, each made of its name, or refused with the error given.
async fn bind(
    resources: Vec<(&'static str, SocketAddr, Result<(), &'static str>)>,
) -> Result<Listeners<String>, Failed> {
    Listeners::bind(resources, |name, made| {
        made.map_err(|why| Failed::Build(why.to_owned()))?;
        Ok(name.to_owned())
    })
    .await
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

#[tokio::test]
async fn every_resource_gets_its_own_socket_named_after_it() {
    let listeners = bind(vec![("a", any_port(), Ok(())), ("b", any_port(), Ok(()))])
        .await
        .expect("bound");
    let addrs = listeners.local_addrs();
    let names: Vec<&str> = addrs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_ne!(addrs[0].1, addrs[1].1);
    let handlers: Vec<usize> = listeners
        .map(|name| name.len())
        .handlers()
        .copied()
        .collect();
    assert_eq!(handlers, [1, 1]);
}

#[tokio::test]
async fn an_address_in_use_is_an_error_naming_the_resource_and_the_address() {
    let taken = std::net::TcpListener::bind(any_port()).expect("bind");
    let addr = taken.local_addr().expect("address");
    let Err(Failed::Bind(e)) = bind(vec![("a", any_port(), Ok(())), ("b", addr, Ok(()))]).await
    else {
        panic!("binding a taken address succeeded");
    };
    assert_eq!(e.resource, "b");
    assert_eq!(e.addr, addr);
    assert_eq!(e.source.kind(), io::ErrorKind::AddrInUse);
    assert!(
        e.to_string()
            .starts_with(&format!("resource b: cannot listen on {addr}: ")),
        "{e}"
    );
}

#[tokio::test]
async fn a_resource_that_cannot_be_built_is_refused_before_its_address_is_bound() {
    let taken = std::net::TcpListener::bind(any_port()).expect("bind");
    let addr = taken.local_addr().expect("address");
    let Err(Failed::Build(why)) = bind(vec![("a", addr, Err("no upstream"))]).await else {
        panic!("expected the build error");
    };
    assert_eq!(why, "no upstream");
}
