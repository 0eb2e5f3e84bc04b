//! Gateway harness against a stand-in shell script (the real binary is
//! tested by the jitgate crate). One test function: writing an executable
//! while other test threads fork can fail with ETXTBSY.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use jitgate_testkit::Gateway;

const FAKE_JITGATE: &str = r#"#!/bin/sh
# Stand-in for jitgate; FAKE_MODE picks how `serve` behaves.
echo "args: $*" >> "$PWD/calls.txt"
case "$1" in
  serve)
    if [ "$FAKE_MODE" = crash ]; then echo "boom: bad config" >&2; exit 3; fi
    echo "serving"
    trap 'echo "got TERM"; exit 0' TERM
    while :; do sleep 0.1; done ;;
  admin)
    case "$2" in
      grant)
        echo "some log line"
        echo '{"grant_id":"g1","subject":"'"$3"'","resource":"'"$4"'","login":"jit_abc","password":"pw","expires_at":"2030-01-01T00:00:00Z","uri":"postgresql://jit_abc:pw@127.0.0.1:6543/app","extra":1}' ;;
      revoke)
        [ "$3" = g1 ] || { echo "unknown grant $3" >&2; exit 1; } ;;
    esac ;;
  requests)
    echo "server=$JITGATE_SERVER home=$XDG_CONFIG_HOME" ;;
esac
"#;

#[test]
fn gateway_harness_with_fake_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("fake-jitgate");
    {
        let mut f = std::fs::File::create(&bin).unwrap();
        f.write_all(FAKE_JITGATE.as_bytes()).unwrap();
    }
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Something must accept on the configured ports for start() to return.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let api = TcpListener::bind("127.0.0.1:0").unwrap();
    let api_port = api.local_addr().unwrap().port();
    let config = format!(
        "[api]\nlisten = \"127.0.0.1:{api_port}\"\n\
         [resources.demo]\nkind = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\n"
    );

    let mut gw = Gateway::start_with_env(&bin, &config, &[("FAKE_MODE", "ok")]).unwrap();
    assert_eq!(std::fs::read_to_string(gw.config_path()).unwrap(), config);
    assert_eq!(gw.listen_addrs().len(), 1);
    assert_eq!(
        gw.api_url().unwrap(),
        format!("http://127.0.0.1:{api_port}")
    );

    let grant = gw.grant("alice", "demo", "5m").unwrap();
    assert_eq!(grant.subject, "alice");
    assert_eq!(grant.resource, "demo");
    assert_eq!(grant.login, "jit_abc");
    gw.revoke("g1").unwrap();
    assert!(gw
        .revoke("nope")
        .unwrap_err()
        .to_string()
        .contains("unknown grant nope"));
    let calls = std::fs::read_to_string(gw.dir().join("calls.txt")).unwrap();
    assert!(
        calls.contains("admin grant alice demo --duration 5m --json --config"),
        "{calls}"
    );

    // The CLI runs with the gateway's API as its server and a configuration folder per user.
    let said = gw.user("alice").ok(&["requests"]).unwrap();
    let home = gw.user("alice").config_home();
    assert_eq!(
        said.trim(),
        format!("server=http://127.0.0.1:{api_port} home={}", home.display())
    );

    gw.restart().unwrap();
    let status = gw.stop().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(gw.log().matches("got TERM").count(), 2, "{}", gw.log());

    // A port nobody listens on: start() can only end by seeing the exit.
    let closed = format!(
        "[resources.x]\nlisten = \"127.0.0.1:{}\"\n",
        jitgate_testkit::free_port()
    );
    let err = Gateway::start_with_env(&bin, &closed, &[("FAKE_MODE", "crash")])
        .err()
        .expect("crashing server must fail start")
        .to_string();
    assert!(
        err.contains("exited early") && err.contains("boom: bad config"),
        "{err}"
    );
    drop((listener, api));
}
