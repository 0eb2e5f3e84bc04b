//! A logged-in session: commands relayed one at a time, each answer streamed packet by packet
//! (never a whole result held), statements checked and audited, and the session ended — the
//! running query killed upstream, the client told why — the moment its grant ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgate_control::audit::kind;
use jitgate_control::{SessionAuditor, SessionStop};
use jitgate_front::{Shutdown, WhenWoken};
use jitgate_mysql_sql::{analyse, mentions_kill, Guard, Refusal};
use jitgate_sqlstate::SqlState;

use crate::front::{ClientIo, ResourceFront};
use crate::login::LoggedIn;
use crate::masked::{MaskFailure, MaskedState};
use crate::packet::{Packet, PacketError, PacketReader, PacketWriter};
use crate::upstream::{kill_query, UpstreamConn};
use crate::wire::{self, com, err_packet, status, ErrorCode};

/// How many prepared statements' texts a session keeps for the audit trail.
const MAX_PREPARED: usize = 4096;
/// How long a client gets to read jitgate's last word before the connection closes.
const GOODBYE: Duration = Duration::from_millis(300);
/// How long killing a running query upstream may take.
const KILL_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("{0}")]
    Packet(#[from] PacketError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("upstream protocol: {0}")]
    Protocol(&'static str),
}

/// How one command ended the session, if it did.
enum Step {
    Next,
    Ended(String),
}

struct Relay {
    client_r: PacketReader<tokio::io::ReadHalf<ClientIo>>,
    client_w: PacketWriter<tokio::io::WriteHalf<ClientIo>>,
    up: UpstreamConn,
    front: Arc<ResourceFront>,
    guard: Guard,
    subject: String,
    auditor: SessionAuditor,
    /// The sequence number of the next packet to the client (for jitgate's own ERR).
    next_seq: u8,
    /// A command is being answered upstream.
    in_flight: bool,
    prepared: HashMap<u32, Arc<str>>,
    /// A masked subject's detectors: text rows and error messages pass them.
    scanner: Option<jitgate_masking::Scanner>,
    /// A masked subject's statement rewrite.
    masked: Option<MaskedState>,
    /// A masked subject's key, whose pads are blotted from messages and warnings.
    key: Option<jitgate_masking::MaskKey>,
    /// The rows being relayed quote server messages (`SHOW WARNINGS`): key pads are blotted.
    quoting: bool,
    /// A masked subject's column types of the result being relayed, for binary rows.
    types: Vec<u8>,
}

/// Serves a logged-in client to the end of its session.
pub async fn serve(logged_in: LoggedIn, front: Arc<ResourceFront>, shutdown: Shutdown) {
    let LoggedIn {
        client_reader,
        client_writer,
        upstream,
        admission,
        guard,
        connection_id,
        peer,
        scanner,
        view,
    } = logged_in;
    let mut session = front.control.open_session(&admission, &peer.to_string());
    let _registered = front.register(connection_id, &admission.subject, upstream.thread_id);
    let mut relay = Relay {
        client_r: client_reader,
        client_w: client_writer,
        up: upstream,
        front: front.clone(),
        guard,
        subject: admission.subject.clone(),
        auditor: session.auditor(),
        next_seq: 1,
        in_flight: false,
        prepared: HashMap::new(),
        scanner,
        key: view.as_ref().map(|v| v.key().clone()),
        masked: view.map(MaskedState::new),
        quoting: false,
        types: Vec::new(),
    };
    // Made once and polled only when a grant end, a kill or the shutdown wakes them, not at
    // every command.
    let mut stopped = WhenWoken::new(session.stopped());
    let mut forced = WhenWoken::new(shutdown.forced());
    let reason = loop {
        let step = tokio::select! {
            biased;
            stop = &mut stopped => break relay.stop(&stop).await,
            () = &mut forced => break relay.stop(&SessionStop::Shutdown).await,
            step = relay.command() => step,
        };
        match step {
            Ok(Step::Next) => continue,
            Ok(Step::Ended(why)) => break why,
            Err(e) => break format!("connection lost: {e}"),
        }
    };
    drop(stopped);
    let (from, to) = (relay.client_r.bytes, relay.client_w.bytes);
    relay.up.quit().await;
    session.close(&reason, from, to);
}

impl Relay {
    /// Relays one command and its answer.
    async fn command(&mut self) -> Result<Step, RelayError> {
        self.in_flight = false;
        self.next_seq = 1;
        let p = match self.client_r.next().await {
            Ok(p) => p,
            Err(PacketError::Closed) => return Ok(Step::Ended("client disconnected".into())),
            Err(e) => return Err(e.into()),
        };
        if p.continues() {
            return Ok(Step::Ended(
                "client sent a command larger than jitgate relays".into(),
            ));
        }
        match p.first() {
            com::QUIT => {
                self.forward(&p).await?;
                Ok(Step::Ended("client quit".into()))
            }
            com::QUERY => self.query(p).await,
            com::STMT_PREPARE => self.prepare(p).await,
            com::STMT_EXECUTE => self.execute(p).await,
            com::STMT_FETCH if self.masked.is_some() => self
                .refuse(
                    ErrorCode::SPECIFIC_ACCESS_DENIED,
                    "your data on this resource is masked: cursor fetches are refused",
                )
                .await
                .map(|()| Step::Next),
            com::STMT_FETCH => {
                self.forward(&p).await?;
                self.rows(true).await.map(|_| Step::Next)
            }
            com::STMT_SEND_LONG_DATA | com::STMT_CLOSE => {
                if p.first() == com::STMT_CLOSE {
                    if let Some(id) = stmt_id(&p.payload) {
                        self.prepared.remove(&id);
                    }
                }
                self.forward(&p).await.map(|()| Step::Next)
            }
            com::PING | com::INIT_DB | com::STMT_RESET | com::SET_OPTION | com::STATISTICS => {
                if p.first() == com::INIT_DB {
                    if let Some(m) = self.masked.as_mut() {
                        m.forget_database();
                    }
                }
                self.forward(&p).await?;
                self.one_packet().await.map(|_| Step::Next)
            }
            com::RESET_CONNECTION => self.reset(p).await,
            com::FIELD_LIST if !self.guard.masked => {
                self.forward(&p).await?;
                self.until_eof().await.map(|_| Step::Next)
            }
            com::PROCESS_KILL => self.process_kill(p).await,
            com::CHANGE_USER => {
                self.refuse(
                    ErrorCode::NOT_SUPPORTED,
                    "jitgate does not change users within a session: connect again with the other credential",
                )
                .await?;
                Ok(Step::Ended("client asked to change user".into()))
            }
            com::BINLOG_DUMP | com::BINLOG_DUMP_GTID | com::REGISTER_SLAVE | com::TABLE_DUMP => {
                self.refuse(
                    ErrorCode::SPECIFIC_ACCESS_DENIED,
                    "replication commands are not allowed through jitgate",
                )
                .await
                .map(|()| Step::Next)
            }
            com::FIELD_LIST => self
                .refuse(
                    ErrorCode::SPECIFIC_ACCESS_DENIED,
                    "your data on this resource is masked: COM_FIELD_LIST is refused",
                )
                .await
                .map(|()| Step::Next),
            other => self
                .refuse(
                    ErrorCode::UNKNOWN_COMMAND,
                    &format!("jitgate does not relay command 0x{other:02x}"),
                )
                .await
                .map(|()| Step::Next),
        }
    }

    /// COM_QUERY: checked, KILL mapped, relayed and audited.
    async fn query(&mut self, p: Packet) -> Result<Step, RelayError> {
        let Some(text) = self.statement_text(&p) else {
            return self
                .refuse_statement("", &Refusal::Unparsable("not UTF-8".into()))
                .await;
        };
        let mut sent = p;
        self.quoting = false;
        if self.guard.guarded() || mentions_kill(&text) {
            match analyse(&text, self.guard) {
                Err(refusal) => return self.refuse_statement(&text, &refusal).await,
                Ok(a) if a.kill.is_none() && self.masked.is_some() => {
                    // Rows of SHOW WARNINGS / SHOW ERRORS anywhere in the text quote server
                    // messages, which may quote the rewritten text: the key's pads are
                    // blotted from every row of this text's results.
                    self.quoting = a.warnings;
                    match self.rewrite(&text).await {
                        Ok(Some(sql)) => sent = query_packet(&sql),
                        Ok(None) => {}
                        Err(step) => return step,
                    }
                }
                Ok(a) => {
                    if let Some(kill) = a.kill {
                        let Some(thread) = self.front.upstream_thread(kill.id, &self.subject)
                        else {
                            return self
                                .refuse(
                                    ErrorCode::NO_SUCH_THREAD,
                                    &format!("Unknown thread id: {}", kill.id),
                                )
                                .await
                                .map(|()| Step::Next);
                        };
                        let what = if kill.query_only {
                            "QUERY"
                        } else {
                            "CONNECTION"
                        };
                        let mut payload = vec![com::QUERY];
                        payload.extend_from_slice(format!("KILL {what} {thread}").as_bytes());
                        sent = Packet {
                            seq: 0,
                            payload: payload.into(),
                        };
                    }
                }
            }
        }
        let started = Instant::now();
        self.forward(&sent).await?;
        let (rows, sqlstate) = self.results(false).await?;
        self.auditor
            .statement(Arc::from(text), started.elapsed(), rows, sqlstate);
        Ok(Step::Next)
    }

    /// A masked subject's text rewritten (`None`: unchanged), or the refusal already sent.
    async fn rewrite(&mut self, text: &str) -> Result<Option<String>, Result<Step, RelayError>> {
        let Some(masked) = self.masked.as_mut() else {
            return Ok(None);
        };
        match masked.rewrite(&mut self.up, text).await {
            Ok(r) if r.changed => Ok(Some(r.sql)),
            Ok(_) => Ok(None),
            Err(MaskFailure::Refused(refusal)) => Err(self.refuse_statement(text, &refusal).await),
            Err(MaskFailure::Lookup(why)) => {
                tracing::warn!(resource = %self.front.name, "masking catalog lookup: {why}");
                let refusal = Refusal::Masked(
                    "a statement whose tables jitgate cannot look up in the catalog".into(),
                );
                Err(self.refuse_statement(text, &refusal).await)
            }
        }
    }

    /// The statement text of a COM_QUERY or COM_STMT_PREPARE: exactly UTF-8 in a guarded
    /// session (what the analysis reads is what the server runs), for the audit trail otherwise.
    fn statement_text(&self, p: &Packet) -> Option<String> {
        let bytes = &p.payload[1..];
        if self.guard.guarded() || mentions_kill(&String::from_utf8_lossy(bytes)) {
            return std::str::from_utf8(bytes).ok().map(str::to_owned);
        }
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    async fn refuse_statement(
        &mut self,
        text: &str,
        refusal: &Refusal,
    ) -> Result<Step, RelayError> {
        let (code, audit_kind) = match refusal {
            Refusal::ReadOnly(_) => (ErrorCode::READ_ONLY, kind::READ_ONLY_REFUSED),
            Refusal::Unparsable(_) => (ErrorCode::PARSE, self.refusal_kind()),
            Refusal::KillNotAlone => (ErrorCode::NOT_SUPPORTED, kind::STATEMENT_REFUSED),
            Refusal::Masked(_) | Refusal::ExecutableComment => {
                (ErrorCode::SPECIFIC_ACCESS_DENIED, self.refusal_kind())
            }
        };
        let reason = refusal.to_string();
        self.auditor.refused(audit_kind, text, &reason);
        self.refuse(code, &reason).await.map(|()| Step::Next)
    }

    fn refusal_kind(&self) -> &'static str {
        if self.guard.masked {
            kind::MASKING_REFUSED
        } else if self.guard.read_only {
            kind::READ_ONLY_REFUSED
        } else {
            kind::STATEMENT_REFUSED
        }
    }

    /// COM_STMT_PREPARE: the text is checked as COM_QUERY's; the answer's definitions relayed.
    async fn prepare(&mut self, p: Packet) -> Result<Step, RelayError> {
        let Some(text) = self.statement_text(&p) else {
            return self
                .refuse_statement("", &Refusal::Unparsable("not UTF-8".into()))
                .await;
        };
        let mut sent = p;
        if self.guard.guarded() || mentions_kill(&text) {
            match analyse(&text, self.guard) {
                Err(refusal) => return self.refuse_statement(&text, &refusal).await,
                Ok(a) if a.kill.is_some() || a.statements != 1 => {
                    return self.refuse_statement(&text, &Refusal::KillNotAlone).await
                }
                // A prepared statement's rows are relayed without knowing they quote
                // messages: masked subjects read warnings with COM_QUERY.
                Ok(a) if a.warnings && self.masked.is_some() => {
                    let refusal = Refusal::Masked("SHOW WARNINGS as a prepared statement".into());
                    return self.refuse_statement(&text, &refusal).await;
                }
                Ok(_) if self.masked.is_some() => match self.rewrite(&text).await {
                    Ok(None) => {}
                    Ok(Some(sql)) => {
                        let mut payload = Vec::with_capacity(sql.len() + 1);
                        payload.push(com::STMT_PREPARE);
                        payload.extend_from_slice(sql.as_bytes());
                        sent = Packet {
                            seq: 0,
                            payload: payload.into(),
                        };
                    }
                    Err(step) => return step,
                },
                Ok(_) => {}
            }
        }
        self.forward(&sent).await?;
        let first = self.relay_next().await?;
        if first.first() != 0x00 {
            return Ok(Step::Next);
        }
        let mut r = wire::Reader::new(&first.payload[1..]);
        let (Some(id), Some(columns), Some(params)) = (r.u32(), r.u16(), r.u16()) else {
            return Err(RelayError::Protocol("short prepare answer"));
        };
        for count in [params, columns] {
            if count > 0 {
                self.until_eof().await?;
            }
        }
        if self.prepared.len() < MAX_PREPARED {
            self.prepared.insert(id, Arc::from(text));
        }
        Ok(Step::Next)
    }

    /// COM_STMT_EXECUTE: relayed, binary results streamed, audited with the prepared text.
    async fn execute(&mut self, p: Packet) -> Result<Step, RelayError> {
        let text = stmt_id(&p.payload)
            .and_then(|id| self.prepared.get(&id).cloned())
            .unwrap_or_else(|| Arc::from("(unknown prepared statement)"));
        let started = Instant::now();
        self.forward(&p).await?;
        let (rows, sqlstate) = self.results(true).await?;
        self.auditor
            .statement(text, started.elapsed(), rows, sqlstate);
        Ok(Step::Next)
    }

    /// COM_RESET_CONNECTION: a guarded session's settings are made again before the client
    /// hears that the reset is done.
    async fn reset(&mut self, p: Packet) -> Result<Step, RelayError> {
        self.forward(&p).await?;
        let answer = self.up.reader.next().await?;
        if let Some(m) = self.masked.as_mut() {
            m.forget_database();
        }
        if answer.first() == 0x00 && self.guard.guarded() {
            if let Err(why) = crate::login::prepare_guarded(&mut self.up, self.guard).await {
                self.refuse(ErrorCode::SPECIFIC_ACCESS_DENIED, &why).await?;
                return Ok(Step::Ended(format!(
                    "session checks failed after reset: {why}"
                )));
            }
        }
        self.send_client(&answer).await?;
        Ok(Step::Next)
    }

    /// COM_PROCESS_KILL: jitgate's connection id mapped to the upstream's.
    async fn process_kill(&mut self, p: Packet) -> Result<Step, RelayError> {
        let id = wire::Reader::new(&p.payload[1..]).u32().unwrap_or(0);
        let Some(thread) = self.front.upstream_thread(u64::from(id), &self.subject) else {
            return self
                .refuse(
                    ErrorCode::NO_SUCH_THREAD,
                    &format!("Unknown thread id: {id}"),
                )
                .await
                .map(|()| Step::Next);
        };
        let mut payload = vec![com::PROCESS_KILL];
        payload.extend_from_slice(&thread.to_le_bytes());
        self.forward(&Packet {
            seq: 0,
            payload: payload.into(),
        })
        .await?;
        self.one_packet().await.map(|_| Step::Next)
    }

    /// Sends a command upstream; its answer is in flight from now on.
    async fn forward(&mut self, p: &Packet) -> Result<(), RelayError> {
        self.up.writer.send(p.seq, &p.payload).await?;
        self.up.writer.flush().await?;
        self.in_flight = true;
        Ok(())
    }

    /// Relays one upstream packet, the first of an answer, to the client (an ERR scrubbed: a
    /// COM_STMT_PREPARE's may quote the rewritten text).
    async fn relay_next(&mut self) -> Result<Packet, RelayError> {
        let p = self.up.reader.next().await?;
        let p = self.scrubbed_error(p);
        self.send_client(&p).await?;
        Ok(p)
    }

    async fn send_client(&mut self, p: &Packet) -> Result<(), RelayError> {
        self.client_w.send(p.seq, &p.payload).await?;
        self.next_seq = p.seq.wrapping_add(1);
        if !self.up.reader.has_packet() {
            self.client_w.flush().await?;
        }
        Ok(())
    }

    /// An answer of one packet (OK, ERR, EOF or a string).
    async fn one_packet(&mut self) -> Result<Packet, RelayError> {
        let p = self.relay_next().await?;
        self.client_w.flush().await?;
        Ok(p)
    }

    /// Definitions up to their EOF (or an ERR); the EOF's status flags. A masked subject's
    /// have the key's pads blotted: the server names a column without alias after its text in
    /// the statement it ran, the rewritten one (`SELECT (SELECT c FROM t)` is named
    /// `(SELECT c FROM (SELECT … X'<pad>' …) AS t)`, up to 256 characters).
    async fn until_eof(&mut self) -> Result<u16, RelayError> {
        let mut continued = false;
        self.types.clear();
        loop {
            let p = self.up.reader.next().await?;
            let p = self.blotted_definition(p);
            self.send_client(&p).await?;
            let last = !continued;
            continued = p.continues();
            if last && p.first() == 0xff {
                return Ok(0);
            }
            if last && wire::is_eof(&p.payload) {
                return Ok(wire::eof_status(&p.payload));
            }
            if last && self.scanner.is_some() {
                // A type jitgate cannot read makes the binary row scan end the session.
                self.types
                    .push(crate::binary_rows::column_type(&p.payload).unwrap_or(0x42));
            }
        }
    }

    /// Rows up to their EOF or ERR: how many, the EOF's status, the ERR's SQLSTATE.
    async fn rows(&mut self, binary: bool) -> Result<(u64, u16, Option<SqlState>), RelayError> {
        let mut rows = 0;
        let mut continued = false;
        loop {
            let p = self.up.reader.next().await?;
            if continued {
                continued = p.continues();
                self.send_client(&p).await?;
                continue;
            }
            continued = p.continues();
            if p.first() == 0xff {
                let p = self.scrubbed_error(p);
                self.send_client(&p).await?;
                return Ok((rows, 0, wire::err_sqlstate(&p.payload)));
            }
            if wire::is_eof(&p.payload) {
                self.send_client(&p).await?;
                return Ok((rows, wire::eof_status(&p.payload), None));
            }
            let p = match (&self.scanner, binary) {
                (None, _) => p,
                (Some(_), true) | (Some(_), false) if continued => {
                    return Err(RelayError::Protocol(
                        "a masked subject's row too large to scan",
                    ))
                }
                (Some(scanner), true) => {
                    match crate::binary_rows::scrub(scanner, &self.types, &p.payload) {
                        Ok(None) => p,
                        Ok(Some(payload)) => Packet {
                            seq: p.seq,
                            payload: payload.into(),
                        },
                        Err(why) => return Err(RelayError::Protocol(why)),
                    }
                }
                (Some(scanner), false) => scrub_text_row(scanner, p)?,
            };
            let p = self.blotted(p);
            self.send_client(&p).await?;
            rows += 1;
        }
    }

    /// The answer to a statement: OK, ERR or result sets, as many as the server says follow.
    /// Rows in total and the SQLSTATE of an error.
    async fn results(
        &mut self,
        binary: bool,
    ) -> Result<(Option<u64>, Option<SqlState>), RelayError> {
        let mut total: Option<u64> = None;
        loop {
            let first = self.up.reader.next().await?;
            let first = self.scrubbed_error(first);
            self.send_client(&first).await?;
            let more = match first.first() {
                0x00 => wire::ok_status(&first.payload) & status::MORE_RESULTS_EXISTS != 0,
                0xff => return Ok((total, wire::err_sqlstate(&first.payload))),
                0xfb => {
                    return Err(RelayError::Protocol(
                        "LOCAL INFILE request that jitgate never allowed",
                    ))
                }
                _ => {
                    let defs = self.until_eof().await?;
                    if binary && defs & status::CURSOR_EXISTS != 0 {
                        self.in_flight = false;
                        return Ok((total, None));
                    }
                    let (rows, eof, sqlstate) = self.rows(binary).await?;
                    total = Some(total.unwrap_or(0) + rows);
                    if sqlstate.is_some() {
                        return Ok((total, sqlstate));
                    }
                    eof & status::MORE_RESULTS_EXISTS != 0
                }
            };
            if !more {
                self.client_w.flush().await?;
                self.in_flight = false;
                return Ok((total, None));
            }
        }
    }

    /// Answers the client's command with jitgate's own ERR; nothing goes upstream.
    async fn refuse(&mut self, code: ErrorCode, message: &str) -> Result<(), RelayError> {
        self.client_w
            .send(self.next_seq, &err_packet(code, message))
            .await?;
        self.client_w.flush().await?;
        Ok(())
    }

    /// Ends the session now: the statement running upstream is killed, the client told why.
    async fn stop(&mut self, stop: &SessionStop) -> String {
        if self.in_flight {
            let kill = kill_query(&self.front.upstream, self.up.thread_id);
            match tokio::time::timeout(KILL_TIMEOUT, kill).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(resource = %self.front.name, "killing the running query: {e}")
                }
                Err(_) => {
                    tracing::warn!(resource = %self.front.name, "killing the running query timed out")
                }
            }
        }
        let code = match stop {
            SessionStop::Shutdown => ErrorCode::SHUTDOWN,
            _ => ErrorCode::CONNECTION_KILLED,
        };
        let _ = self.refuse(code, &stop.client_message()).await;
        self.client_w.shutdown().await;
        // Read what the client still sends, so that closing does not reset the connection
        // before it has read the reason.
        let _ = tokio::time::timeout(GOODBYE, async {
            while self.client_r.next().await.is_ok() {}
        })
        .await;
        stop.reason()
    }
}

impl Relay {
    /// An ERR packet with its message through a masked subject's detectors.
    fn scrubbed_error(&self, p: Packet) -> Packet {
        let Some(scanner) = &self.scanner else {
            return p;
        };
        // 0xff, error number, then (4.1) '#' and five SQLSTATE bytes, then the message.
        if p.first() != 0xff || p.payload.len() < 9 {
            return p;
        }
        let mut out = p.payload[..9].to_vec();
        if !scanner.redact_into(&p.payload[9..], &mut out) {
            out.truncate(9);
            out.extend_from_slice(&p.payload[9..]);
        }
        if let Some(key) = &self.key {
            key.blot(&mut out[9..]);
        }
        Packet {
            seq: p.seq,
            payload: out.into(),
        }
    }

    /// A column definition (or the EOF or ERR after them) with the key's pads blotted.
    fn blotted_definition(&self, p: Packet) -> Packet {
        let Some(key) = &self.key else {
            return p;
        };
        if p.first() == 0xff {
            return self.scrubbed_error(p);
        }
        blot_packet(key, p)
    }

    /// A row of server messages (`SHOW WARNINGS`) with the key's pads blotted; a blot keeps
    /// every length, so the row's framing holds.
    fn blotted(&self, p: Packet) -> Packet {
        let (true, Some(key)) = (self.quoting, &self.key) else {
            return p;
        };
        blot_packet(key, p)
    }
}

/// `p` with the key's pads blotted (the same packet when it holds none); a blot keeps every
/// length, so the packet's framing holds.
fn blot_packet(key: &jitgate_masking::MaskKey, p: Packet) -> Packet {
    let mut payload = p.payload.to_vec();
    if !key.blot(&mut payload) {
        return p;
    }
    Packet {
        seq: p.seq,
        payload: payload.into(),
    }
}

/// A text-protocol row with each value through the detectors.
fn scrub_text_row(scanner: &jitgate_masking::Scanner, p: Packet) -> Result<Packet, RelayError> {
    let mut r = wire::Reader::new(&p.payload);
    let mut out = bytes::BytesMut::with_capacity(p.payload.len());
    let mut changed = false;
    while !r.rest().is_empty() {
        if r.rest()[0] == 0xfb {
            r.u8();
            out.extend_from_slice(&[0xfb]);
            continue;
        }
        let value = r
            .lenenc_bytes()
            .ok_or(RelayError::Protocol("malformed text row"))?;
        let mut scrubbed = Vec::new();
        if scanner.redact_into(value, &mut scrubbed) {
            changed = true;
        }
        wire::put_lenenc(&mut out, scrubbed.len() as u64);
        out.extend_from_slice(&scrubbed);
    }
    if !changed {
        return Ok(p);
    }
    Ok(Packet {
        seq: p.seq,
        payload: out.freeze(),
    })
}

fn query_packet(sql: &str) -> Packet {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(com::QUERY);
    payload.extend_from_slice(sql.as_bytes());
    Packet {
        seq: 0,
        payload: payload.into(),
    }
}

fn stmt_id(payload: &[u8]) -> Option<u32> {
    wire::Reader::new(payload.get(1..)?).u32()
}
